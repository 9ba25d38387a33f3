import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client

from tests.oauth import flow

pytestmark = pytest.mark.django_db


class _Documents(BaseHTTPRequestHandler):
    documents: dict[str, dict] = {}

    def do_GET(self) -> None:
        document = self.documents.get(self.path)
        body = json.dumps(document).encode()
        self.send_response(200 if document else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "max-age=600")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def document_server(settings):
    settings.OAUTH_CIMD_ALLOW_LOOPBACK_HTTP = True
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Documents)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"https://127.0.0.1:{server.server_address[1]}"

    def publish(path: str, **fields: object) -> str:
        client_id = f"{base}{path}"
        _Documents.documents[path] = {
            "client_id": client_id,
            "client_name": "Metadata Client",
            "redirect_uris": [flow.REDIRECT_URI],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            **fields,
        }
        return client_id

    yield publish
    server.shutdown()
    _Documents.documents.clear()


def test_metadata_says_cimd_is_supported(db):
    data = Client().get("/.well-known/oauth-authorization-server").json()
    assert data["client_id_metadata_document_supported"] is True


def test_a_metadata_document_client_completes_the_flow(alice, document_server):
    client_id = document_server("/client.json")
    auth = flow.start(client_id)
    page = alice.get(auth.url)
    assert page.status_code == HTTPStatus.OK, page.content[:300]
    assert "client ID metadata document at 127.0.0.1" in page.text
    assert "Metadata Client" in page.text
    params = flow.authorize_code(alice, auth)
    token = flow.exchange(Client(), auth, params["code"])
    assert token.status_code == HTTPStatus.OK, token.content


def test_a_document_with_an_unsafe_redirect_uri_is_refused(alice, document_server):
    client_id = document_server(
        "/bad.json", redirect_uris=["http://evil.example/callback"]
    )
    auth = flow.start(client_id, redirect_uri="http://evil.example/callback")
    response = alice.get(auth.url)
    assert response.status_code == HTTPStatus.BAD_REQUEST  # unknown client, no redirect


def test_a_document_naming_another_client_id_is_refused(alice, document_server):
    client_id = document_server("/liar.json", client_id="https://other.example/c.json")
    response = alice.get(flow.start(client_id).url)
    assert response.status_code == HTTPStatus.BAD_REQUEST


def test_without_the_test_switch_loopback_documents_are_not_fetched(alice, settings):
    settings.OAUTH_CIMD_ALLOW_LOOPBACK_HTTP = False
    response = alice.get(flow.start("https://127.0.0.1:9/client.json").url)
    assert response.status_code == HTTPStatus.BAD_REQUEST  # the SSRF guard refuses

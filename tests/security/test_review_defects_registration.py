"""Review defects of /register (issue #14 item 4), each as it was reproduced.

Every refusal is a 400 with an RFC 7591 error body, and nothing is stored:
no Application, no ClientProfile, no audit row.
"""

import json
from http import HTTPStatus

import pytest
from django.test import Client
from oauth2_provider.models import Application

from audit.models import AuditEvent
from oauth.models import ClientProfile
from tests.oauth import flow
from tests.oauth.test_cimd import document_server

pytestmark = pytest.mark.django_db
__all__ = ["document_server"]  # the fixture, imported for pytest

DEEP = ("[" * 5000 + "]" * 5000).encode()
DEEP_OBJECT = ('{"redirect_uris":' + "[" * 5000 + "]" * 5000 + "}").encode()
"""Both under the 16 KiB body limit, so the parser, not the size check, meets them."""


def _post(body: bytes | dict) -> object:
    data = body if isinstance(body, bytes) else json.dumps(body)
    return Client().post("/register", data, content_type="application/json")


def _assert_refused(response, error: str) -> None:
    assert response.status_code == HTTPStatus.BAD_REQUEST, response.content[:300]
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["error"] == error
    assert isinstance(body["error_description"], str)


def _counts() -> tuple[int, int, int]:
    return (
        Application.objects.count(),
        ClientProfile.objects.count(),
        AuditEvent.objects.count(),
    )


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT], ids=["array", "object"])
def test_deeply_nested_registration_is_a_400_not_a_500(body):
    before = _counts()
    _assert_refused(_post(body), "invalid_client_metadata")
    assert _counts() == before


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT], ids=["array", "object"])
def test_deeply_nested_update_without_credentials_is_a_400_not_a_500(body):
    registered = flow.register(Client())
    before = _counts()
    response = Client().put(
        f"/register/{registered['client_id']}", body, content_type="application/json"
    )
    _assert_refused(response, "invalid_client_metadata")
    assert _counts() == before


@pytest.mark.parametrize("field", ["client_uri", "logo_uri", "tos_uri", "policy_uri"])
@pytest.mark.parametrize(
    "uri",
    [
        "javascript:alert(1)",
        "JavaScript:alert(document.cookie)",
        "data:text/html,<script>alert(1)</script>",
        "http://evil.example/page",
        "https://user:pw@example.com/",
        "https:///nohost",
        "vbscript:msgbox(1)",
    ],
)
def test_unsafe_metadata_uris_are_refused(field, uri):
    before = _counts()
    response = _post({**flow.CLAUDE_CODE_REGISTRATION, field: uri})
    _assert_refused(response, "invalid_client_metadata")
    assert field in response.json()["error_description"]
    assert _counts() == before


@pytest.mark.parametrize("field", ["client_uri", "logo_uri", "tos_uri", "policy_uri"])
def test_unsafe_metadata_uri_in_an_update_is_refused(field):
    registered = flow.register(Client())
    application = Application.objects.get(client_id=registered["client_id"])
    response = Client().put(
        f"/register/{registered['client_id']}",
        json.dumps({**flow.CLAUDE_CODE_REGISTRATION, field: "javascript:alert(1)"}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {registered['registration_access_token']}"},
    )
    _assert_refused(response, "invalid_client_metadata")
    application.refresh_from_db()
    assert application.name == flow.CLAUDE_CODE_REGISTRATION["client_name"]


@pytest.mark.parametrize(
    "uri", ["https://example.com/about", "http://localhost:3000/", "http://127.0.0.1/x"]
)
def test_https_and_loopback_metadata_uris_are_accepted(uri):
    response = _post({**flow.CLAUDE_CODE_REGISTRATION, "client_uri": uri})
    assert response.status_code == HTTPStatus.CREATED
    assert response.json()["client_uri"] == uri


def test_a_metadata_document_with_a_javascript_logo_is_refused(alice, document_server):
    """A client ID metadata document is held to the registration's URI policy."""
    client_id = document_server("/js-logo.json", logo_uri="javascript:alert(1)")
    auth = flow.start(client_id)
    response = alice.get(auth.url)
    assert response.status_code == HTTPStatus.BAD_REQUEST  # unknown client
    assert not Application.objects.filter(client_id=client_id).exists()

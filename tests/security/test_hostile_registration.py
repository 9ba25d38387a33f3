"""Hostile client registrations (issue #14 item 3): the exact refusal.

RFC 7591 registration at /register and client ID metadata documents
(client_ids that are https URLs, fetched by DOT's SSRF-guarded fetcher
through oauth/cimd.py). Every refusal is an RFC 7591 error body (or, for a
metadata document, the /authorize error page of an unknown client) and
stores nothing: no Application, no ClientProfile. A metadata document URL
naming a private, loopback, link-local or metadata-service address is
refused before any connection: urllib3's connect is watched, and where the
address is this machine's, a socket listens there and must see nothing.
"""

import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from typing import Any
from urllib.parse import quote

import pytest
import urllib3
from django.core.management import call_command
from django.test import Client
from oauth2_provider.models import Application

from audit.models import AuditEvent
from oauth.models import ClientProfile
from tests.oauth import flow

pytestmark = pytest.mark.django_db


def _post(body: bytes | str | dict, **extra: Any) -> Any:
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return Client().post("/register", data, content_type="application/json", **extra)


def _counts() -> tuple[int, int]:
    return Application.objects.count(), ClientProfile.objects.count()


def _assert_refused(response: Any, error: str, status: int = 400) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["error"] == error
    assert isinstance(body["error_description"], str)
    assert body["error_description"]
    return body


@pytest.fixture
def nothing_stored(db: None) -> Iterator[None]:
    """The test stores no client and writes no audit row."""
    before = (*_counts(), AuditEvent.objects.count())
    yield
    assert (*_counts(), AuditEvent.objects.count()) == before


# --- Redirect URIs -------------------------------------------------------------
@pytest.mark.parametrize(
    "uri",
    [
        "javascript:alert(1)",
        "JavaScript:alert(document.cookie)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "http://evil.example/callback",
        "http://192.168.1.10/callback",
        "http://10.0.0.1:8080/callback",
        "http://localhost.evil.example/callback",
        "http://127.0.0.2/callback",
        "https://user:pw@example.com/callback",
        "https://example.com/callback#fragment",
        "https:///callback",
        "https://exa mple.com/callback",
        "https://example.com:99999/callback",
        "https://example.com/" + "a" * 2001,
        "",
        42,
        None,
    ],
)
def test_an_unsafe_redirect_uri_is_refused(nothing_stored: None, uri: Any) -> None:
    response = _post({**flow.CLAUDE_CODE_REGISTRATION, "redirect_uris": [uri]})
    _assert_refused(response, "invalid_redirect_uri")


@pytest.mark.parametrize(
    "uris",
    [[], "http://localhost/cb", [flow.REDIRECT_URI] * 11, None],
    ids=["empty", "a-string", "eleven", "null"],
)
def test_a_malformed_redirect_uri_list_is_refused(
    nothing_stored: None, uris: Any
) -> None:
    response = _post({**flow.CLAUDE_CODE_REGISTRATION, "redirect_uris": uris})
    _assert_refused(response, "invalid_redirect_uri")


# --- Size ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "field",
    ["client_name", "padding", "redirect_uris"],
)
def test_a_body_over_16_kib_is_413_with_an_oauth_error(
    nothing_stored: None, field: str
) -> None:
    value: Any = "x" * 17_000
    if field == "redirect_uris":
        value = [flow.REDIRECT_URI + "?" + "x" * 2000] * 9
    response = _post({**flow.CLAUDE_CODE_REGISTRATION, field: value})
    body = _assert_refused(
        response, "invalid_client_metadata", HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    )
    assert "16384 bytes" in body["error_description"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("client_name", "n" * 201),
        ("client_name", ["Claude"]),
        ("scope", {"tools:call": True}),
        ("grant_types", ["implicit"]),
        ("grant_types", ["client_credentials"]),
        ("response_types", ["token"]),
        ("token_endpoint_auth_method", "private_key_jwt"),
        ("application_type", "browser"),
    ],
)
def test_metadata_out_of_policy_is_invalid_client_metadata(
    nothing_stored: None, field: str, value: Any
) -> None:
    response = _post({**flow.CLAUDE_CODE_REGISTRATION, field: value})
    _assert_refused(response, "invalid_client_metadata")


# --- Unknown fields (RFC 7591 §2: the server may ignore them) -------------------
def test_unknown_and_server_owned_fields_are_ignored(db: None) -> None:
    """A client cannot choose its own client_id, secret or registration token."""
    hostile = {
        **flow.CLAUDE_CODE_REGISTRATION,
        "x_unknown": "value",
        "software_statement": "eyJhbGciOiJub25lIn0.e30.",
        "client_id": "chosen-client-id",
        "client_secret": "chosen-secret",
        "registration_access_token": "chosen-token",
        "client_id_issued_at": 1,
        "jwks_uri": "http://169.254.169.254/latest/meta-data",
        "is_resource_server": True,
        "skip_authorization": True,
    }

    response = _post(hostile)

    assert response.status_code == HTTPStatus.CREATED, response.content
    body = response.json()
    for field in ("x_unknown", "software_statement", "jwks_uri"):
        assert field not in body
    assert body["client_id"] != "chosen-client-id"
    assert "client_secret" not in body  # a public client has none
    assert body["registration_access_token"] != "chosen-token"
    assert body["client_id_issued_at"] > 1
    application = Application.objects.get(client_id=body["client_id"])
    assert application.skip_authorization is False
    assert application.profile.is_resource_server is False
    assert not Application.objects.filter(client_id="chosen-client-id").exists()


# --- Many registrations: storage stays bounded -----------------------------------
def test_a_flood_of_registrations_stores_at_most_the_global_limit(
    db: None, settings: Any, throttle_clock: list[float]
) -> None:
    """10,000 registrations, scaled down: the same limits at a 50th.

    The default limits are 30 a minute per address and 300 a minute in all;
    here 4 and 6, with 200 registrations from 100 addresses (10,000 real
    registrations would take minutes and prove nothing more). At most the
    global limit is stored per minute, each refusal is a 429 with
    Retry-After, one refusal per window and limit is audited, and the
    registrations nobody used expire and are deleted.
    """
    settings.OAUTH_REGISTRATION_RATE_PER_ADDRESS = 4
    settings.OAUTH_REGISTRATION_RATE_GLOBAL = 6
    settings.OAUTH_UNUSED_CLIENT_TTL_SECONDS = 0
    statuses: list[int] = []
    for n in range(200):
        response = _post(flow.CLAUDE_CODE_REGISTRATION, REMOTE_ADDR=f"10.0.{n % 100}.1")
        statuses.append(response.status_code)
        if response.status_code == HTTPStatus.TOO_MANY_REQUESTS:
            assert response.json()["error"] == "too_many_requests"
            assert response["Retry-After"] == "55"

    assert statuses.count(HTTPStatus.CREATED) == 6
    assert statuses.count(HTTPStatus.TOO_MANY_REQUESTS) == 194
    assert _counts() == (6, 6)
    denied = AuditEvent.objects.filter(event="client_registered", outcome="denied")
    assert denied.count() == 1

    throttle_clock.append(throttle_clock[-1] + 60)  # the next minute
    more = [_post(flow.CLAUDE_CODE_REGISTRATION, REMOTE_ADDR="10.1.0.1")]
    more += [_post(flow.CLAUDE_CODE_REGISTRATION, REMOTE_ADDR="10.1.0.1")]
    assert [r.status_code for r in more] == [HTTPStatus.CREATED] * 2

    out = StringIO()
    call_command("cleanup_clients", stdout=out)
    assert out.getvalue().strip() == "Deleted 8 expired registrations."
    assert _counts() == (0, 0)


# --- Client ID metadata documents --------------------------------------------------
class Listener:
    """A TCP socket listening on a local address that must see no connection."""

    def __init__(self, family: int, host: str) -> None:
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        self.socket.bind((host, 0))
        self.socket.listen(8)
        self.socket.setblocking(False)
        self.port = self.socket.getsockname()[1]

    def connections(self) -> int:
        count = 0
        while True:
            try:
                conn, _ = self.socket.accept()
            except BlockingIOError:
                return count
            conn.close()
            count += 1

    def close(self) -> None:
        self.socket.close()


@pytest.fixture
def listener_v4() -> Iterator[Listener]:
    listener = Listener(socket.AF_INET, "127.0.0.1")
    yield listener
    listener.close()


def _ipv6_loopback() -> bool:
    try:
        with closing(socket.socket(socket.AF_INET6, socket.SOCK_STREAM)) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every connection urllib3 (DOT's fetcher) attempts; none is made."""
    attempted: list[tuple[str, int]] = []

    def refuse(self: Any) -> None:
        attempted.append((self.host, self.port))
        raise urllib3.exceptions.NewConnectionError(self, "blocked by the test")

    monkeypatch.setattr(urllib3.connection.HTTPConnection, "connect", refuse)
    return attempted


def _authorize_unknown_client(browser: Client, client_id: str) -> None:
    response = browser.get(flow.start(client_id).url)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Location" not in response
    assert not Application.objects.filter(client_id=client_id).exists()


PRIVATE_DOCUMENT_URLS = [
    "https://10.0.0.1/client.json",
    "https://10.255.255.254:8443/client.json",
    "https://172.16.0.1/client.json",
    "https://192.168.1.1/client.json",
    "https://100.64.0.1/client.json",  # carrier-grade NAT
    "https://169.254.169.254/latest/meta-data/client.json",  # cloud metadata
    "https://169.254.170.2/v2/credentials/client.json",  # ECS task metadata
    "https://0.0.0.0/client.json",
    "https://[fd00::1]/client.json",  # IPv6 unique local
    "https://[fe80::1]/client.json",  # IPv6 link local
    "https://[fd00:ec2::254]/client.json",  # the IPv6 metadata service
    "https://[::ffff:169.254.169.254]/client.json",  # IPv4-mapped
    "https://[64:ff9b::a9fe:a9fe]/client.json",  # NAT64 of 169.254.169.254
    "https://[2002:a9fe:a9fe::1]/client.json",  # 6to4 of 169.254.169.254
]


@pytest.mark.parametrize("url", PRIVATE_DOCUMENT_URLS)
def test_a_metadata_document_on_a_private_address_is_never_fetched(
    alice: Client, connections: list, nothing_stored: None, url: str
) -> None:
    _authorize_unknown_client(alice, url)
    assert connections == []


LOOPBACK_FORMS = [
    "https://127.0.0.1:{port}/client.json",
    "https://localhost:{port}/client.json",
    "https://127.1:{port}/client.json",
    "https://2130706433:{port}/client.json",  # 127.0.0.1 as one number
    "https://0x7f000001:{port}/client.json",
    "https://[::ffff:127.0.0.1]:{port}/client.json",
]


@pytest.mark.parametrize("form", LOOPBACK_FORMS)
def test_a_metadata_document_on_loopback_is_never_fetched(
    alice: Client,
    listener_v4: Listener,
    connections: list,
    nothing_stored: None,
    form: str,
) -> None:
    """This machine's port listens; the guard refuses before connecting."""
    _authorize_unknown_client(alice, form.format(port=listener_v4.port))
    assert connections == []
    assert listener_v4.connections() == 0


def test_a_metadata_document_on_ipv6_loopback_is_never_fetched(
    alice: Client, connections: list, nothing_stored: None
) -> None:
    if not _ipv6_loopback():
        pytest.skip("no IPv6 loopback on this machine")
    listener = Listener(socket.AF_INET6, "::1")
    try:
        _authorize_unknown_client(alice, f"https://[::1]:{listener.port}/client.json")
        assert listener.connections() == 0
    finally:
        listener.close()
    assert connections == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/client.json",  # not https: not a document URL
        "https://127.0.0.1:{port}/../client.json",
        "https://user@127.0.0.1:{port}/client.json",
        "https://127.0.0.1:{port}/client.json#fragment",
    ],
)
def test_a_malformed_metadata_document_url_is_never_fetched(
    alice: Client,
    listener_v4: Listener,
    connections: list,
    nothing_stored: None,
    url: str,
) -> None:
    _authorize_unknown_client(alice, url.format(port=listener_v4.port))
    assert connections == []
    assert listener_v4.connections() == 0


class _Redirecting(BaseHTTPRequestHandler):
    """Serves every path as a redirect to `target` (a class attribute)."""

    target = ""
    hits: list[str] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(HTTPStatus.FOUND)
        self.send_header("Location", self.target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def redirecting_server(settings: Any) -> Iterator[Callable[[str], str]]:
    """A loopback document server (the tests' switch) that only redirects."""
    settings.OAUTH_CIMD_ALLOW_LOOPBACK_HTTP = True
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirecting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Redirecting.hits = []

    def redirect_to(target: str) -> str:
        _Redirecting.target = target
        return f"https://127.0.0.1:{server.server_address[1]}/client.json"

    yield redirect_to
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{port}/client.json",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.1/client.json",
        "https://[::1]:{port}/client.json",
        "https://example.com/" + quote("client.json"),
    ],
)
def test_a_redirect_from_a_metadata_document_is_not_followed(
    alice: Client,
    redirecting_server: Callable[[str], str],
    listener_v4: Listener,
    nothing_stored: None,
    target: str,
) -> None:
    client_id = redirecting_server(target.format(port=listener_v4.port))
    _authorize_unknown_client(alice, client_id)
    assert _Redirecting.hits == ["/client.json"]  # fetched once, not followed
    assert listener_v4.connections() == 0

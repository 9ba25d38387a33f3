"""Hostile authorization requests (issue #14 item 3): the exact refusal.

/authorize, the login's `next`, the consent form and /token, each driven
through Django's test client with the terminal client's requests
(tests/oauth/flow.py). A refusal that can be sent to the client goes to
its registered redirect URI with `error`, `state` and `iss`; one that
cannot (an unknown client, an unregistered or malformed redirect URI) is
an error page and never a redirect. Nothing changes but the audit log: no
grant, token or application appears.
"""

from collections.abc import Iterator
from http import HTTPStatus
from urllib.parse import urlencode, urlsplit

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from oauth2_provider.models import AccessToken, Application, Grant, RefreshToken

from accounts.models import User
from audit.models import AuditEvent
from tests.factories import TenantFactory
from tests.oauth import flow

pytestmark = pytest.mark.django_db


def _state() -> dict[str, int]:
    return {
        "grants": Grant.objects.count(),
        "access_tokens": AccessToken.objects.count(),
        "refresh_tokens": RefreshToken.objects.count(),
        "applications": Application.objects.count(),
    }


@pytest.fixture
def unchanged() -> Iterator[None]:
    """The test changes no grant, token or application."""
    before = _state()
    yield
    assert _state() == before


def _assert_redirected_error(
    response, auth: flow.AuthorizationRequest, error: str
) -> dict[str, str]:
    """A refusal sent to the registered redirect URI, as RFC 6749 §4.1.2.1."""
    params = flow.redirect_params(response)
    assert response["Location"].startswith(flow.REDIRECT_URI + "?")
    assert params["error"] == error
    assert params["state"] == auth.state
    assert params["iss"] == settings.PUBLIC_URL
    assert "code" not in params
    return params


def _assert_error_page(response) -> None:
    """A refusal that must not be sent anywhere: a 400 page, no Location."""
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Location" not in response
    assert "evil" not in response.get("Refresh", "")


# --- PKCE --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "description"),
    [
        ("plain", "PKCE with code_challenge_method=S256 is required."),
        ("S512", "Transform algorithm not supported."),
        ("s256", "Transform algorithm not supported."),
        ("", "Transform algorithm not supported."),
    ],
)
def test_a_challenge_method_other_than_s256_is_refused(
    alice, public_client, unchanged, method, description
):
    auth = flow.start(public_client["client_id"], method=method)
    params = _assert_redirected_error(alice.get(auth.url), auth, "invalid_request")
    assert params["error_description"] == description


@pytest.mark.parametrize(
    ("changes", "description"),
    [
        (
            {"code_challenge": None, "code_challenge_method": None},
            "Code challenge required.",
        ),
        ({"code_challenge": None}, "Code challenge required."),
        (
            {"code_challenge": ""},
            "PKCE with code_challenge_method=S256 is required.",
        ),
    ],
    ids=["neither", "method-only", "empty"],
)
def test_no_challenge_is_refused(alice, public_client, unchanged, changes, description):
    auth = flow.start(public_client["client_id"])
    for name, value in changes.items():
        if value is None:
            auth.query.pop(name)
        else:
            auth.query[name] = value
    params = _assert_redirected_error(alice.get(auth.url), auth, "invalid_request")
    assert params["error_description"] == description


@pytest.mark.parametrize(
    "verifier",
    [
        "wrong-" + "v" * 43,
        "",
        "short",
        "A" * 129,
    ],
    ids=["wrong", "empty", "too-short", "too-long"],
)
def test_a_wrong_verifier_gets_no_token(alice, public_client, verifier):
    auth = flow.start(public_client["client_id"])
    code = flow.authorize_code(alice, auth)["code"]
    before = _state()

    response = flow.exchange(Client(), auth, code, code_verifier=verifier)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == "invalid_grant"
    assert response["Cache-Control"] == "no-store"
    # The registration's RFC 7592 access token is the only access-token row.
    assert _state() == before
    assert RefreshToken.objects.count() == 0
    assert not AuditEvent.objects.filter(event="token_issued").exists()


# --- Redirect URIs -------------------------------------------------------------
UNREGISTERED = [
    "https://evil.example/callback",
    "http://evil.example/callback",
    "//evil.example/callback",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "http://localhost:49152/callback/../../evil",
    "http://localhost:49152/other",
    "http://localhost.evil.example:49152/callback",
    "http://localhost:49152@evil.example/callback",
    flow.REDIRECT_URI + "#fragment",
    flow.REDIRECT_URI + "/",
]


@pytest.mark.parametrize("redirect_uri", UNREGISTERED)
def test_an_unregistered_redirect_uri_is_an_error_page(
    alice, public_client, unchanged, redirect_uri
):
    auth = flow.start(public_client["client_id"], redirect_uri=redirect_uri)
    response = alice.get(auth.url)
    _assert_error_page(response)
    assert not AuditEvent.objects.filter(event__startswith="consent_").exists()


@pytest.mark.parametrize(
    "spoil",
    [
        {"code_challenge_method": "plain"},
        {"response_type": "token"},
        {"resource": "https://evil.example/mcp"},
        {"scope": ""},
    ],
    ids=["plain-pkce", "implicit", "foreign-resource", "no-scope"],
)
def test_an_error_is_never_sent_to_an_unregistered_redirect_uri(
    alice, public_client, unchanged, spoil
):
    """An open redirect through /authorize errors: the page, not the redirect."""
    auth = flow.start(
        public_client["client_id"], redirect_uri="https://evil.example/cb"
    )
    auth.query.update(spoil)
    _assert_error_page(alice.get(auth.url))


@pytest.mark.parametrize(
    "client_id", ["no-such-client", "", "https://evil.example/client.json"]
)
def test_an_unknown_client_is_an_error_page(alice, demo, unchanged, client_id):
    auth = flow.start(client_id, redirect_uri="https://evil.example/cb")
    _assert_error_page(alice.get(auth.url))


def test_an_anonymous_authorize_with_a_bad_redirect_goes_only_to_login(
    public_client, unchanged
):
    """Before login the request is not judged; the login's next is local."""
    auth = flow.start(
        public_client["client_id"], redirect_uri="https://evil.example/cb"
    )
    response = Client().get(auth.url)
    assert response.status_code == HTTPStatus.FOUND
    location = urlsplit(response["Location"])
    assert (location.scheme, location.netloc) == ("", "")
    assert location.path == reverse("login")


# --- The login's next ------------------------------------------------------------
OPEN_REDIRECTS = [
    "http://evil.example/",
    "https://evil.example/path",
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "javascript:alert(1)",
    "JavaScript:alert(document.cookie)",
    "data:text/html,<script>alert(1)</script>",
    "http:evil.example",
    " //evil.example",
    "http://localhost:8000@evil.example/",
]


@pytest.mark.parametrize("next_url", OPEN_REDIRECTS)
def test_the_logins_next_never_leaves_the_site(demo, next_url):
    client = Client()
    page = client.get(reverse("login") + "?" + urlencode({"next": next_url}))
    assert page.status_code == HTTPStatus.OK
    assert "evil.example" not in page.text
    assert "javascript:" not in page.text.lower()

    response = client.post(
        reverse("login"),
        {"username": "alice", "password": "demo", "next": next_url},
    )

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == reverse(settings.LOGIN_REDIRECT_URL)
    (row,) = AuditEvent.objects.filter(event="login_succeeded")
    assert row.user.username == "alice"


def test_the_logins_next_to_authorize_is_followed(demo, public_client):
    """The control: a local next (the /authorize request) is honoured."""
    auth = flow.start(public_client["client_id"])
    response = Client().post(
        reverse("login"), {"username": "alice", "password": "demo", "next": auth.url}
    )
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == auth.url


# --- Codes -------------------------------------------------------------------------
def test_a_replayed_code_is_refused_and_revokes_what_it_issued(alice, public_client):
    auth = flow.start(public_client["client_id"])
    code = flow.authorize_code(alice, auth)["code"]
    first = flow.exchange(Client(), auth, code)
    assert first.status_code == HTTPStatus.OK
    issued = _state()

    again = flow.exchange(Client(), auth, code)

    assert again.status_code == HTTPStatus.BAD_REQUEST
    assert again.json()["error"] == "invalid_grant"
    assert again["Cache-Control"] == "no-store"
    assert _state()["access_tokens"] <= issued["access_tokens"]
    assert AuditEvent.objects.filter(event="code_reuse_detected").count() == 1
    assert AuditEvent.objects.filter(event="token_issued").count() == 1


@pytest.mark.parametrize("confidential", [False, True], ids=["public", "confidential"])
def test_a_code_redeemed_by_another_client_gets_no_token(
    alice, public_client, confidential
):
    auth = flow.start(public_client["client_id"])
    code = flow.authorize_code(alice, auth)["code"]
    overrides: dict[str, object] = {"client_name": "Thief"}
    if confidential:
        overrides["token_endpoint_auth_method"] = "client_secret_post"
    thief = flow.register(Client(), **overrides)
    before = _state()
    extra = {"client_id": thief["client_id"]}
    if confidential:
        extra["client_secret"] = thief["client_secret"]

    response = flow.exchange(Client(), auth, code, **extra)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == "invalid_grant"
    assert _state() == before
    assert RefreshToken.objects.count() == 0
    assert not AuditEvent.objects.filter(event="token_issued").exists()


# --- Consent -------------------------------------------------------------------------
def test_consent_posted_without_csrf_is_forbidden(demo, public_client, unchanged):
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.get(username="alice"))
    auth = flow.start(public_client["client_id"])
    page = client.get(auth.url)
    assert page.status_code == HTTPStatus.OK
    form = {k: v for k, v in page.context["form"].initial.items() if v is not None}

    response = client.post(auth.url, {**form, "allow": "Authorize"})

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "Location" not in response
    assert not AuditEvent.objects.filter(event__startswith="consent_").exists()


@pytest.mark.parametrize("choice", ["tenant-c", "tenant-zz", "", "1"])
def test_a_tenant_the_user_does_not_belong_to_cannot_be_chosen(
    demo, public_client, unchanged, choice
):
    TenantFactory(slug="tenant-c")
    dave = Client()
    dave.force_login(User.objects.get(username="dave"))
    auth = flow.start(public_client["client_id"])
    assert "Choose a tenant" in dave.get(auth.url).text

    response = dave.post(auth.url, {"choose_tenant": choice})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Choose one of your tenants" in response.text
    assert "Location" not in response
    assert not AuditEvent.objects.filter(event__startswith="consent_").exists()

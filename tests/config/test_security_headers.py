"""Security headers on each kind of Django response: pages, JSON, static files.

Every HTML page carries the Content-Security-Policy; every response says
nosniff and the referrer policy; pages of the OAuth flow widen form-action
to exactly the client's registered redirect origin. The headers of /mcp
are in tests/mcpserver/test_security_headers.py, the https-only headers
and cookies and `check --deploy` in tests/config/test_deploy_settings.py.
"""

from http import HTTPStatus
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.urls import reverse
from oauth2_provider.models import get_application_model

from config.security_headers import content_security_policy
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

DEFAULT_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
CALLBACK = "http://127.0.0.1:4321/callback"


def _assert_common_headers(response) -> None:
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in response  # PUBLIC_URL is http


def test_the_default_policy_allows_no_inline_script_framing_or_plugins() -> None:
    assert content_security_policy() == DEFAULT_POLICY
    assert "'unsafe-inline'" not in DEFAULT_POLICY


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/", HTTPStatus.OK),
        ("/accounts/login/", HTTPStatus.OK),
        ("/accounts/logout/", HTTPStatus.OK),
        ("/admin/login/", HTTPStatus.OK),
        ("/no-such-page", HTTPStatus.NOT_FOUND),
    ],
)
def test_html_pages_carry_the_policy(path: str, status: HTTPStatus) -> None:
    response = Client().get(path)
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    assert response["Content-Security-Policy"] == DEFAULT_POLICY
    assert response["X-Frame-Options"] == "DENY"
    _assert_common_headers(response)


def test_signed_in_pages_and_the_console_carry_the_policy() -> None:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    for path in ("/account/", "/admin/", "/admin/audit/auditevent/"):
        response = client.get(path)
        assert response.status_code == HTTPStatus.OK, path
        assert response["Content-Security-Policy"] == DEFAULT_POLICY, path


@pytest.mark.parametrize(
    "path",
    [
        "/.well-known/oauth-authorization-server",
        "/.well-known/oauth-protected-resource",
        "/.well-known/jwks.json",
    ],
)
def test_json_endpoints_say_nosniff_and_carry_no_page_policy(path: str) -> None:
    response = Client().get(path)
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"].startswith("application/json")
    assert "Content-Security-Policy" not in response
    _assert_common_headers(response)


def test_a_refused_registration_says_nosniff() -> None:
    response = Client().post("/register", data="{", content_type="application/json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    _assert_common_headers(response)


def test_static_files_say_nosniff() -> None:
    response = Client().get("/static/site.css")
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"].startswith("text/css")
    _assert_common_headers(response)


def _client_application(redirect_uri: str = CALLBACK):
    model = get_application_model()
    return model.objects.create(
        name="Header Test Client",
        client_type=model.CLIENT_PUBLIC,
        authorization_grant_type=model.GRANT_AUTHORIZATION_CODE,
        redirect_uris=redirect_uri,
    )


def _authorize_path(client_id: str, redirect_uri: str) -> str:
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": "tools:call",
        "state": "s",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
        "resource": "http://localhost:8000/mcp",
    }
    return f"{reverse('oauth2_provider:authorize')}?{urlencode(query)}"


def test_the_consent_page_lets_its_form_end_at_the_registered_redirect() -> None:
    application = _client_application()
    membership = MembershipFactory()
    client = Client()
    client.force_login(membership.user)
    # A loopback redirect matches on any port (RFC 8252): the origin named
    # is the request's, not the registration's.
    response = client.get(
        _authorize_path(application.client_id, "http://127.0.0.1:5555/callback")
    )
    assert response.status_code == HTTPStatus.OK
    assert b'id="authorizationForm"' in response.content
    assert response["Content-Security-Policy"] == content_security_policy(
        form_action=["http://127.0.0.1:5555"]
    )


def test_the_login_page_for_authorize_lets_its_form_end_at_the_client() -> None:
    application = _client_application("https://client.example/cb")
    authorize = _authorize_path(application.client_id, "https://client.example/cb")
    response = Client().get(f"/accounts/login/?{urlencode({'next': authorize})}")
    assert response["Content-Security-Policy"] == content_security_policy(
        form_action=["https://client.example"]
    )


@pytest.mark.parametrize(
    ("client_id", "redirect_uri"),
    [
        ("registered", "https://evil.example/cb"),
        ("no-such-client", CALLBACK),
    ],
)
def test_an_unregistered_redirect_widens_no_form_action(
    client_id: str, redirect_uri: str
) -> None:
    application = _client_application()
    if client_id == "registered":
        client_id = application.client_id
    authorize = _authorize_path(client_id, redirect_uri)
    login = Client().get(f"/accounts/login/?{urlencode({'next': authorize})}")
    assert login["Content-Security-Policy"] == DEFAULT_POLICY
    client = Client()
    client.force_login(MembershipFactory().user)
    refused = client.get(authorize)
    assert refused.status_code == HTTPStatus.BAD_REQUEST
    assert refused["Content-Security-Policy"] == DEFAULT_POLICY


@pytest.mark.parametrize(
    ("registered", "form_action"),
    [
        ("https://one.example/cb", ["https://one.example"]),
        ("https://one.example/cb https://two.example/cb", []),
    ],
)
def test_an_authorize_request_without_redirect_uri_names_the_only_one(
    registered: str, form_action: list[str]
) -> None:
    application = _client_application(registered)
    query = urlencode({"client_id": application.client_id, "response_type": "code"})
    authorize = f"{reverse('oauth2_provider:authorize')}?{query}"
    response = Client().get(f"/accounts/login/?{urlencode({'next': authorize})}")
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Security-Policy"] == content_security_policy(
        form_action=form_action
    )

from http import HTTPStatus
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test import Client

from accounts.models import User
from audit.models import AuditEvent
from harness.pages import parse_page
from tests.oauth import flow

pytestmark = pytest.mark.django_db


def test_anonymous_users_are_sent_to_the_login_form(public_client):
    auth = flow.start(public_client["client_id"])
    response = Client().get(auth.url)
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith("/accounts/login/?next=")


def test_login_form_logs_in_and_audits(demo):
    client = Client(enforce_csrf_checks=True)
    page = client.get("/accounts/login/?next=/admin/")
    token = page.context["csrf_token"]
    bad = client.post(
        "/accounts/login/",
        {"username": "alice", "password": "wrong", "csrfmiddlewaretoken": str(token)},
    )
    assert bad.status_code == HTTPStatus.OK
    assert "didn't match" in bad.text
    good = client.post(
        "/accounts/login/",
        {"username": "alice", "password": "demo", "csrfmiddlewaretoken": str(token)},
    )
    assert good.status_code == HTTPStatus.FOUND
    events = list(AuditEvent.objects.order_by("id").values_list("event", flat=True))
    assert events == ["login_failed", "login_succeeded"]


def test_consent_page_shows_client_tenant_redirect_host_and_granted_scopes(
    bob, public_client
):
    auth = flow.start(public_client["client_id"], scope="tools:call admin")
    page = bob.get(auth.url)
    assert page.status_code == HTTPStatus.OK
    text = page.text
    assert "Claude Code (demo)" in text
    assert "dynamically registered (unverified)" in text
    assert "localhost:49152" in text
    assert "tenant-a" in text
    granted = parse_page(text).granted_scopes
    assert "tools:call" in granted
    assert "admin" not in granted
    assert "Requested but not granted" in text


def test_the_redirect_carries_code_state_and_iss(alice, public_client):
    auth = flow.start(public_client["client_id"])
    params = flow.authorize_code(alice, auth)
    assert params["code"]
    assert params["state"] == auth.state
    assert params["iss"] == settings.PUBLIC_URL


def test_any_loopback_port_matches_a_localhost_registration(alice, public_client):
    auth = flow.start(
        public_client["client_id"], redirect_uri="http://localhost:61234/callback"
    )
    _page, response = flow.consent(alice, auth)
    assert response["Location"].startswith("http://localhost:61234/callback?")


def test_deny_redirects_with_access_denied_state_and_iss(alice, public_client):
    auth = flow.start(public_client["client_id"])
    _page, response = flow.consent(alice, auth, allow=False)
    params = flow.redirect_params(response)
    assert params["error"] == "access_denied"
    assert params["state"] == auth.state
    assert params["iss"] == settings.PUBLIC_URL
    assert AuditEvent.objects.filter(event="consent_denied").exists()


def test_plain_pkce_is_refused_with_an_oauth_error(alice, public_client):
    auth = flow.start(public_client["client_id"], method="plain")
    params = flow.redirect_params(alice.get(auth.url))
    assert params["error"] == "invalid_request"
    assert "S256" in params["error_description"]
    assert params["iss"] == settings.PUBLIC_URL


def test_a_missing_code_challenge_is_refused(alice, public_client):
    auth = flow.start(public_client["client_id"])
    auth.query.pop("code_challenge")
    auth.query.pop("code_challenge_method")
    params = flow.redirect_params(alice.get(auth.url))
    assert params["error"] == "invalid_request"


def test_an_unregistered_redirect_uri_is_never_redirected_to(alice, public_client):
    auth = flow.start(
        public_client["client_id"], redirect_uri="https://evil.example/cb"
    )
    response = alice.get(auth.url)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "evil.example" not in response.get("Location", "")


@pytest.mark.parametrize(
    "resource", ["https://other.example/mcp", "http://localhost:8000/other"]
)
def test_a_foreign_resource_is_invalid_target(alice, public_client, resource):
    auth = flow.start(public_client["client_id"], resource=resource)
    params = flow.redirect_params(alice.get(auth.url))
    assert params["error"] == "invalid_target"
    assert params["state"] == auth.state


def test_a_trailing_slash_on_the_resource_is_tolerated(alice, public_client):
    auth = flow.start(
        public_client["client_id"], resource=settings.MCP_RESOURCE_URL + "/"
    )
    params = flow.authorize_code(alice, auth)
    token = flow.exchange(Client(), auth, params["code"], resource="")
    assert token.status_code == HTTPStatus.OK, token.content


def test_unknown_scopes_are_dropped_not_fatal(alice, public_client):
    auth = flow.start(public_client["client_id"], scope="tools:call offline_access")
    response = alice.get(auth.url)
    assert response.status_code == HTTPStatus.FOUND
    assert "offline_access" not in response["Location"]
    auth.query["scope"] = "tools:call"
    params = flow.authorize_code(alice, auth)
    assert params["code"]


def test_approval_prompt_auto_cannot_skip_consent(alice, public_client):
    auth = flow.start(public_client["client_id"])
    params = flow.authorize_code(alice, auth)
    flow.exchange(Client(), auth, params["code"])
    again = flow.start(public_client["client_id"], approval_prompt="auto")
    response = alice.get(again.url)
    assert response.status_code == HTTPStatus.FOUND
    assert "approval_prompt" not in response["Location"]
    assert urlsplit(response["Location"]).path == "/authorize"
    consent_page = alice.get(response["Location"])
    assert consent_page.status_code == HTTPStatus.OK  # the consent form, not a code


def test_a_user_with_two_tenants_chooses_one(dave, public_client):
    auth = flow.start(public_client["client_id"], scope="tools:call admin")
    chooser = dave.get(auth.url)
    assert chooser.status_code == HTTPStatus.OK
    assert "Choose a tenant" in chooser.text
    assert "tenant-a" in chooser.text
    assert "tenant-c" in chooser.text
    params = flow.authorize_code(dave, auth, tenant="tenant-c")
    token = flow.exchange(Client(), auth, params["code"]).json()
    import jwt

    claims = jwt.decode(token["access_token"], options={"verify_signature": False})
    assert claims["tenant"] == "tenant-c"
    assert claims["scope"] == "tools:call"  # a member there, not an admin


def test_a_tenant_the_user_does_not_belong_to_cannot_be_chosen(dave, public_client):
    auth = flow.start(public_client["client_id"])
    response = dave.post(auth.url, {"choose_tenant": "tenant-b"})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Choose one of your tenants" in response.text


def test_a_user_without_a_tenant_is_denied(demo, public_client):
    user = User.objects.create_user("eve", password="demo")
    client = Client()
    client.force_login(user)
    auth = flow.start(public_client["client_id"])
    params = flow.redirect_params(client.get(auth.url))
    assert params["error"] == "access_denied"


def test_a_consent_post_without_csrf_is_refused(demo, public_client):
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.get(username="alice"))
    auth = flow.start(public_client["client_id"])
    page = client.get(auth.url)
    form = {k: v for k, v in page.context["form"].initial.items() if v is not None}
    response = client.post(auth.url, {**form, "allow": "Authorize"})
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert not AuditEvent.objects.filter(event="consent_granted").exists()

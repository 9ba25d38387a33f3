"""The account page: a person's tenants and roles, and the clients they allowed."""

from http import HTTPStatus

import jwt
import pytest
from django.test import Client
from oauth2_provider.models import Application

from accounts.models import User
from audit.models import AuditEvent
from harness.pages import Form, parse_page
from oauth.models import Revocation
from tenants.demo import seed_demo_data
from tests.accounts.reading import read
from tests.oauth import flow

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo() -> None:
    seed_demo_data()


def signed_in(username: str, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(User.objects.get(username=username))
    return client


def connect(username: str, client_name: str) -> tuple[str, dict]:
    """Register a client, consent as `username`; return its client_id and tokens."""
    registration = flow.register(Client(), client_name=client_name)
    auth = flow.start(registration["client_id"])
    params = flow.authorize_code(signed_in(username), auth)
    tokens = flow.exchange(Client(), auth, params["code"]).json()
    return registration["client_id"], tokens


def _jti(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["jti"]


def _revoke_form(html: str, client_id: str) -> Form:
    """The Revoke form in the row of `client_id`."""
    assert "Revoke" in read(html).rows[client_id]
    pk = str(Application.objects.get(client_id=client_id).pk)
    return next(
        form
        for form in parse_page(html).forms
        if (button := form.button("revoke")) is not None and button.value == pk
    )


def test_the_account_page_needs_a_sign_in(demo):
    response = Client().get("/account/")
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/accounts/login/?next=/account/"


def test_the_account_page_lists_tenants_with_roles(demo):
    seen = read(signed_in("dave").get("/account/").text)
    assert seen.rows["tenant-a"] == "Tenant A (tenant-a) Member"
    assert seen.rows["tenant-b"] == "Tenant B (tenant-b) Admin"


def test_the_account_page_lists_only_my_authorized_clients(demo):
    mine, _ = connect("bob", "Bob's Client")
    theirs, _ = connect("alice", "Alice's Client")
    response = signed_in("bob").get("/account/")
    seen = read(response.text)
    assert mine in seen.rows
    assert seen.rows[mine].startswith("Bob's Client")
    assert theirs not in seen.rows
    assert len([f for f in parse_page(response.text).forms if f.button("revoke")]) == 1


def test_revoking_a_client_refuses_its_tokens_and_audits_it(demo):
    client_id, tokens = connect("bob", "Bob's Client")
    browser = signed_in("bob", csrf=True)
    form = _revoke_form(browser.get("/account/").text, client_id)
    response = browser.post(form.action, form.submission(revoke=form.buttons[0].value))
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/account/"

    assert Revocation.objects.filter(
        kind=Revocation.Kind.JTI, subject=_jti(tokens["access_token"])
    ).exists()
    refreshed = flow.refresh(Client(), client_id, tokens["refresh_token"])
    assert refreshed.status_code == HTTPStatus.BAD_REQUEST
    event = AuditEvent.objects.get(event=AuditEvent.Event.TOKEN_REVOKED)
    assert (event.user.username, event.client_id) == ("bob", client_id)

    page = browser.get("/account/")
    assert client_id not in read(page.text).rows
    assert "no-clients" in read(page.text).by_id


def test_another_users_client_cannot_be_revoked_404(demo):
    theirs, tokens = connect("alice", "Alice's Client")
    pk = Application.objects.get(client_id=theirs).pk
    response = signed_in("bob").post(f"/account/clients/{pk}/revoke/")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert not Revocation.objects.exists()
    assert not AuditEvent.objects.filter(event=AuditEvent.Event.TOKEN_REVOKED)
    refreshed = flow.refresh(Client(), theirs, tokens["refresh_token"])
    assert refreshed.status_code == HTTPStatus.OK


def test_revoking_needs_the_csrf_token(demo):
    client_id, _ = connect("bob", "Bob's Client")
    browser = signed_in("bob", csrf=True)
    form = _revoke_form(browser.get("/account/").text, client_id)
    response = browser.post(form.action, {"revoke": form.buttons[0].value})
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert not Revocation.objects.exists()
    assert client_id in read(browser.get("/account/").text).rows


def test_revoking_is_a_post_only(demo):
    client_id, _ = connect("bob", "Bob's Client")
    form = _revoke_form(signed_in("bob").get("/account/").text, client_id)
    response = signed_in("bob").get(form.action)
    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert not Revocation.objects.exists()

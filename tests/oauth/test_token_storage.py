"""Tokens at rest: what the database holds after real flows, and what still works.

Every value the server hands out (codes, access and refresh tokens,
registration access tokens) is stored only as its keyed hash; the grace
window, reuse detection, revocation, introspection and key rotation keep
working on top of that.
"""

import base64
import hashlib
from datetime import timedelta
from http import HTTPStatus

import jwt
import oauth2_provider
import pytest
from django.apps import apps
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from oauth2_provider.models import AccessToken, Grant, RefreshToken

from audit.models import AuditEvent
from oauth.models import ClientProfile, RefreshSuccessor, Revocation
from oauth.token_hashing import is_stored_form, stored_form
from tests.factories import UserFactory
from tests.oauth import flow

pytestmark = pytest.mark.django_db


def _authorize(browser: Client, client_id: str) -> tuple[str, dict]:
    auth = flow.start(client_id)
    code = flow.authorize_code(browser, auth)["code"]
    response = flow.exchange(Client(), auth, code)
    assert response.status_code == HTTPStatus.OK, response.content
    return code, response.json()


def _refresh(client_id: str, refresh_token: str) -> dict:
    response = flow.refresh(Client(), client_id, refresh_token)
    assert response.status_code == HTTPStatus.OK, response.content
    return response.json()


def _database_dump() -> str:
    """Every row of every table, as text: what a copy of the database holds."""
    return "\n".join(
        repr(row) for model in apps.get_models() for row in model.objects.values_list()
    )


def _jti(access_token: str) -> str:
    return jwt.decode(access_token, options={"verify_signature": False})["jti"]


def test_read_against_this_version_of_django_oauth_toolkit() -> None:
    """oauth/token_storage.py overrides private methods of DOT 3.4.1."""
    assert oauth2_provider.__version__ == "3.4.1"


def test_no_token_or_code_value_is_anywhere_in_the_database(alice, public_client):
    client_id = public_client["client_id"]
    code, first = _authorize(alice, client_id)
    second = _refresh(client_id, first["refresh_token"])
    retry = _refresh(client_id, first["refresh_token"])  # the grace window
    third = _refresh(client_id, second["refresh_token"])
    values = {code, public_client["registration_access_token"]}
    for grant in (first, second, retry, third):
        values |= {grant["access_token"], grant["refresh_token"]}
        values.add(grant["access_token"].rsplit(".", 1)[1])  # the signature
    dump = _database_dump()
    assert RefreshToken.objects.count() == 3
    for value in values:
        assert value not in dump
        assert hashlib.sha256(value.encode()).hexdigest() not in dump
    assert all(
        is_stored_form(t) for t in RefreshToken.objects.values_list("token", flat=True)
    )
    assert all(
        is_stored_form(t) for t in AccessToken.objects.values_list("token", flat=True)
    )


def test_a_grace_retry_is_answered_from_the_sealed_successor(alice, public_client):
    client_id = public_client["client_id"]
    _code, first = _authorize(alice, client_id)
    rotated = _refresh(client_id, first["refresh_token"])
    sealed = RefreshSuccessor.objects.get()
    assert rotated["refresh_token"] not in sealed.sealed
    retry = _refresh(client_id, first["refresh_token"])
    assert retry["access_token"] == rotated["access_token"]
    assert retry["refresh_token"] == rotated["refresh_token"]
    # The retry's audit row names the token it was given.
    reasons = AuditEvent.objects.filter(event="token_refreshed").values_list(
        "reason", flat=True
    )
    assert {reason.rsplit("jti=", 1)[1] for reason in reasons} == {
        _jti(rotated["access_token"])
    }
    # The next rotation leaves nothing the first token could open.
    _refresh(client_id, rotated["refresh_token"])
    assert list(RefreshSuccessor.objects.values_list("refresh_token__token")) == [
        (stored_form(rotated["refresh_token"]),)
    ]


def test_a_retry_without_its_sealed_successor_is_refused_not_answered_with_hashes(
    alice, public_client
):
    client_id = public_client["client_id"]
    _code, first = _authorize(alice, client_id)
    _refresh(client_id, first["refresh_token"])
    RefreshSuccessor.objects.all().delete()
    retry = flow.refresh(Client(), client_id, first["refresh_token"])
    assert retry.status_code == HTTPStatus.BAD_REQUEST
    assert retry.json()["error"] == "invalid_grant"


def test_reuse_after_the_grace_window_revokes_the_family(alice, public_client):
    client_id = public_client["client_id"]
    _code, first = _authorize(alice, client_id)
    rotated = _refresh(client_id, first["refresh_token"])
    RefreshToken.objects.filter(revoked__isnull=False).update(
        revoked=timezone.now() - timedelta(minutes=5)
    )
    replay = flow.refresh(Client(), client_id, first["refresh_token"])
    assert replay.status_code == HTTPStatus.BAD_REQUEST
    assert replay.json()["error"] == "invalid_grant"
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()
    assert Revocation.objects.filter(
        kind="jti", subject=_jti(rotated["access_token"])
    ).exists()
    assert AuditEvent.objects.filter(event="refresh_reuse_detected").exists()
    successor = flow.refresh(Client(), client_id, rotated["refresh_token"])
    assert successor.status_code == HTTPStatus.BAD_REQUEST


def test_a_stored_form_presented_as_a_token_opens_nothing(alice, public_client):
    client_id = public_client["client_id"]
    _authorize(alice, client_id)
    stolen = RefreshToken.objects.get().token
    response = flow.refresh(Client(), client_id, stolen)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert RefreshToken.objects.get().revoked is None


def test_introspection_and_revocation_find_hashed_tokens(alice, public_client):
    client_id = public_client["client_id"]
    _code, first = _authorize(alice, client_id)
    rs = flow.register(
        Client(), client_name="RS", token_endpoint_auth_method="client_secret_basic"
    )
    ClientProfile.objects.filter(application__client_id=rs["client_id"]).update(
        is_resource_server=True
    )
    basic = base64.b64encode(f"{rs['client_id']}:{rs['client_secret']}".encode())

    def introspect(token: str) -> dict:
        return (
            Client()
            .post("/introspect", {"token": token}, HTTP_AUTHORIZATION=b"Basic " + basic)
            .json()
        )

    assert introspect(first["access_token"])["active"] is True
    stored = AccessToken.objects.get(scope="tools:call").token
    assert introspect(stored) == {"active": False}
    revoked = Client().post(
        "/revoke", {"token": first["refresh_token"], "client_id": client_id}
    )
    assert revoked.status_code == HTTPStatus.OK
    assert RefreshToken.objects.get().revoked is not None
    assert Revocation.objects.filter(
        kind="jti", subject=_jti(first["access_token"])
    ).exists()
    assert introspect(first["access_token"]) == {"active": False}


def test_an_old_refresh_token_works_after_the_secret_key_rotates(
    alice, public_client, settings
):
    client_id = public_client["client_id"]
    _code, first = _authorize(alice, client_id)
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY = "rotated-" + "k" * 50
    settings.SECRET_KEY_FALLBACKS = [old_key]
    rotated = _refresh(client_id, first["refresh_token"])
    assert RefreshToken.objects.filter(token=stored_form(rotated["refresh_token"]))
    # A retry in the grace window, and revocation, find the old rows too.
    assert _refresh(client_id, first["refresh_token"]) == rotated
    settings.SECRET_KEY_FALLBACKS = []
    assert _refresh(client_id, rotated["refresh_token"])["access_token"]


def test_without_the_old_key_in_fallbacks_an_old_refresh_token_is_refused(
    alice, public_client, settings
):
    client_id = public_client["client_id"]
    _code, first = _authorize(alice, client_id)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "rotated-" + "k" * 50
    settings.SECRET_KEY_FALLBACKS = []
    response = flow.refresh(Client(), client_id, first["refresh_token"])
    assert response.status_code == HTTPStatus.BAD_REQUEST


def test_registration_access_tokens_are_hashed_and_still_work(demo):
    registration = flow.register(Client())
    token = registration["registration_access_token"]
    url = f"/register/{registration['client_id']}"
    assert token not in _database_dump()
    read = Client().get(url, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert read.status_code == HTTPStatus.OK
    assert read.json()["registration_access_token"] == token
    stored = AccessToken.objects.get(scope="oauth2_provider:registration").token
    refused = Client().get(url, HTTP_AUTHORIZATION=f"Bearer {stored}")
    assert refused.status_code == HTTPStatus.UNAUTHORIZED


def test_the_admin_shows_a_prefix_of_the_hash_at_most(alice, public_client):
    client_id = public_client["client_id"]
    auth = flow.start(client_id)
    code = flow.authorize_code(alice, auth)["code"]
    grant = Grant.objects.get()
    _code, tokens = _authorize(alice, client_id)
    root = Client()
    root.force_login(UserFactory(is_staff=True, is_superuser=True))
    rows = [
        (AccessToken.objects.filter(scope="tools:call").first(), "accesstoken"),
        (RefreshToken.objects.first(), "refreshtoken"),
        (grant, "grant"),
    ]
    for row, name in rows:
        stored = row.code if name == "grant" else row.token
        for page in (
            root.get(reverse(f"admin:oauth2_provider_{name}_changelist")),
            root.get(reverse(f"admin:oauth2_provider_{name}_change", args=[row.pk])),
        ):
            assert page.status_code == HTTPStatus.OK
            assert stored[:11] + "…" in page.text
            assert stored not in page.text
            for value in (code, tokens["access_token"], tokens["refresh_token"]):
                assert value not in page.text

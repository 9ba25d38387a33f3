"""A user withdraws one client's access (oauth.services.revoke_client_authorization)."""

import time
from http import HTTPStatus

import jwt
import pytest
from django.db import transaction
from django.test import Client
from oauth2_provider.models import AccessToken, Application, RefreshToken

from accounts.models import User
from audit.models import AuditEvent
from mcpserver.revocations import RevocationFeed, load_revocations
from oauth.models import Revocation
from oauth.selectors import authorized_applications
from oauth.services import revoke_client_authorization
from tests.oauth import flow

pytestmark = pytest.mark.django_db


def _tokens(browser: Client, client_id: str) -> dict:
    auth = flow.start(client_id)
    params = flow.authorize_code(browser, auth)
    response = flow.exchange(Client(), auth, params["code"])
    assert response.status_code == HTTPStatus.OK
    return response.json()


def _jti(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["jti"]


def _fed_jtis() -> set[str]:
    return set(
        Revocation.objects.filter(kind=Revocation.Kind.JTI).values_list(
            "subject", flat=True
        )
    )


def test_every_live_token_of_the_pair_goes_on_the_feed(alice, public_client):
    client_id = public_client["client_id"]
    first = _tokens(alice, client_id)
    second = _tokens(alice, client_id)  # a second consent, a second family
    refreshed = flow.refresh(Client(), client_id, second["refresh_token"]).json()
    application = Application.objects.get(client_id=client_id)
    alice_id = User.objects.get(username="alice").pk

    count = revoke_client_authorization(user_id=alice_id, application=application)

    assert count == 2
    assert {_jti(first["access_token"]), _jti(refreshed["access_token"])} <= (
        _fed_jtis()
    )
    assert not AccessToken.objects.filter(user_id=alice_id).exists()
    assert not RefreshToken.objects.filter(
        user_id=alice_id, revoked__isnull=True
    ).exists()
    assert not authorized_applications(user_id=alice_id).exists()
    for refresh_token in (first["refresh_token"], refreshed["refresh_token"]):
        response = flow.refresh(Client(), client_id, refresh_token)
        assert response.status_code == HTTPStatus.BAD_REQUEST


def test_a_token_a_refresh_superseded_is_refused_too(alice, public_client):
    """Its row is gone, so no jti entry can name it: the grant entry does."""
    client_id = public_client["client_id"]
    superseded = _tokens(alice, client_id)
    flow.refresh(Client(), client_id, superseded["refresh_token"])
    application = Application.objects.get(client_id=client_id)
    alice_id = User.objects.get(username="alice").pk

    revoke_client_authorization(user_id=alice_id, application=application)

    claims = jwt.decode(superseded["access_token"], options={"verify_signature": False})
    assert claims["jti"] not in _fed_jtis()
    feed = RevocationFeed()
    feed.apply(load_revocations(after_id=None), full=True, started=time.monotonic())
    refusal = feed.refusal(
        jti=claims["jti"],
        user_id=int(claims["sub"]),
        client_id=claims["client_id"],
        tenant_id=int(claims["tenant_id"]),
        issued_at=int(claims["iat"]),
    )
    assert refusal == "grant revoked"


def test_the_same_clients_tokens_for_another_user_live_on(alice, bob, public_client):
    client_id = public_client["client_id"]
    _tokens(alice, client_id)
    bobs = _tokens(bob, client_id)
    application = Application.objects.get(client_id=client_id)

    revoke_client_authorization(
        user_id=User.objects.get(username="alice").pk, application=application
    )

    assert _jti(bobs["access_token"]) not in _fed_jtis()
    alice_id = User.objects.get(username="alice").pk
    assert list(
        Revocation.objects.exclude(kind=Revocation.Kind.JTI).values_list(
            "kind", "subject"
        )
    ) == [("grant", f"{alice_id} {client_id}")]
    bob_id = User.objects.get(username="bob").pk
    assert list(authorized_applications(user_id=bob_id)) == [application]
    response = flow.refresh(Client(), client_id, bobs["refresh_token"])
    assert response.status_code == HTTPStatus.OK


def test_the_revocation_is_audited_with_the_user_and_client(alice, public_client):
    client_id = public_client["client_id"]
    _tokens(alice, client_id)
    alice_id = User.objects.get(username="alice").pk

    revoke_client_authorization(
        user_id=alice_id, application=Application.objects.get(client_id=client_id)
    )

    event = AuditEvent.objects.get(event=AuditEvent.Event.TOKEN_REVOKED)
    assert (event.user_id, event.client_id) == (alice_id, client_id)
    assert "1 access tokens refused at /mcp" in event.reason


def test_it_is_its_own_transaction(alice, public_client):
    application = Application.objects.get(client_id=public_client["client_id"])
    with pytest.raises(RuntimeError), transaction.atomic():
        revoke_client_authorization(
            user_id=User.objects.get(username="alice").pk, application=application
        )

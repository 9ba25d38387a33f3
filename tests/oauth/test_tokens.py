from http import HTTPStatus

import jwt
import pytest
from django.conf import settings
from django.test import Client

from audit.models import AuditEvent
from oauth.models import Revocation
from tenants.models import Membership, Tenant
from tests.oauth import flow

pytestmark = pytest.mark.django_db


def _verify(token: str) -> dict:
    jwks = Client().get("/.well-known/jwks.json").json()
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "RS256"
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    return jwt.decode(
        token,
        jwt.PyJWK(key).key,
        algorithms=["RS256"],
        audience=settings.MCP_RESOURCE_URL,
        issuer=settings.PUBLIC_URL,
    )


def _tokens(browser: Client, client_id: str, scope: str, **kwargs) -> dict:
    auth = flow.start(client_id, scope=scope)
    params = flow.authorize_code(browser, auth, **kwargs)
    response = flow.exchange(Client(), auth, params["code"])
    assert response.status_code == HTTPStatus.OK, response.content
    return response.json()


def test_alice_gets_a_verified_jwt_with_admin(alice, public_client):
    body = _tokens(alice, public_client["client_id"], "tools:call admin")
    claims = _verify(body["access_token"])
    assert claims["scope"] == "admin tools:call"
    assert body["scope"] == "admin tools:call"
    assert claims["sub"] == str(Membership.objects.get(user__username="alice").user_id)
    assert claims["tenant_id"] == str(Tenant.objects.get(slug="tenant-a").pk)
    assert claims["client_id"] == public_client["client_id"]
    assert claims["exp"] - claims["iat"] == 900
    assert {"jti", "iat", "exp"} <= claims.keys()
    assert isinstance(body["expires_in"], int)
    assert body["refresh_token"]


def test_bob_asking_for_admin_gets_only_tools_call(bob, public_client):
    body = _tokens(bob, public_client["client_id"], "tools:call admin")
    assert _verify(body["access_token"])["scope"] == "tools:call"
    assert body["scope"] == "tools:call"


def test_token_responses_are_not_cacheable(alice, public_client):
    auth = flow.start(public_client["client_id"])
    params = flow.authorize_code(alice, auth)
    response = flow.exchange(Client(), auth, params["code"])
    assert response["Cache-Control"] == "no-store"


def test_wrong_verifier_is_invalid_grant(alice, public_client):
    auth = flow.start(public_client["client_id"])
    params = flow.authorize_code(alice, auth)
    auth.verifier = "x" * 64
    response = flow.exchange(Client(), auth, params["code"])
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == "invalid_grant"


def test_reused_code_fails_and_revokes_what_it_issued(alice, public_client):
    auth = flow.start(public_client["client_id"])
    params = flow.authorize_code(alice, auth)
    first = flow.exchange(Client(), auth, params["code"])
    assert first.status_code == HTTPStatus.OK
    jti = jwt.decode(first.json()["access_token"], options={"verify_signature": False})[
        "jti"
    ]
    second = flow.exchange(Client(), auth, params["code"])
    assert second.status_code == HTTPStatus.BAD_REQUEST
    assert second.json()["error"] == "invalid_grant"
    assert Revocation.objects.filter(kind="jti", subject=jti).exists()
    refreshed = flow.refresh(Client(), auth.client_id, first.json()["refresh_token"])
    assert refreshed.status_code == HTTPStatus.BAD_REQUEST
    assert AuditEvent.objects.filter(event="code_reuse_detected").exists()


def test_refresh_rotates_and_keeps_tenant_and_scope(alice, public_client):
    body = _tokens(alice, public_client["client_id"], "tools:call admin")
    response = flow.refresh(Client(), public_client["client_id"], body["refresh_token"])
    assert response.status_code == HTTPStatus.OK, response.content
    rotated = response.json()
    assert rotated["refresh_token"] != body["refresh_token"]
    claims = _verify(rotated["access_token"])
    assert claims["scope"] == "admin tools:call"
    assert claims["tenant_id"] == _verify(body["access_token"])["tenant_id"]
    assert AuditEvent.objects.filter(event="token_refreshed").count() == 1


def test_a_retry_within_the_grace_window_gets_the_same_successor(alice, public_client):
    body = _tokens(alice, public_client["client_id"], "tools:call")
    first = flow.refresh(Client(), public_client["client_id"], body["refresh_token"])
    retry = flow.refresh(Client(), public_client["client_id"], body["refresh_token"])
    assert retry.status_code == HTTPStatus.OK
    assert retry.json()["refresh_token"] == first.json()["refresh_token"]
    assert retry.json()["access_token"] == first.json()["access_token"]


def test_a_replay_after_the_grace_window_revokes_the_family(
    alice, public_client, settings
):
    settings.OAUTH2_PROVIDER = {
        **settings.OAUTH2_PROVIDER,
        "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
    }
    body = _tokens(alice, public_client["client_id"], "tools:call")
    rotated = flow.refresh(Client(), public_client["client_id"], body["refresh_token"])
    assert rotated.status_code == HTTPStatus.OK
    jti = jwt.decode(
        rotated.json()["access_token"], options={"verify_signature": False}
    )["jti"]
    replay = flow.refresh(Client(), public_client["client_id"], body["refresh_token"])
    assert replay.status_code == HTTPStatus.BAD_REQUEST
    assert replay.json()["error"] == "invalid_grant"
    # The whole family is dead, including the rotated successor ...
    successor = flow.refresh(
        Client(), public_client["client_id"], rotated.json()["refresh_token"]
    )
    assert successor.status_code == HTTPStatus.BAD_REQUEST
    # ... and its access token is on the revocation feed for /mcp ...
    assert Revocation.objects.filter(kind="jti", subject=jti).exists()
    # ... and so is the first access token, superseded by the rotation (its
    # stored row is gone, but it stays valid at /mcp until it expires).
    first = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert Revocation.objects.filter(kind="jti", subject=first["jti"]).exists()
    events = AuditEvent.objects.filter(event="refresh_reuse_detected").order_by("id")
    assert events.count() == 2  # the replay, then the revoked successor
    assert events[0].tenant.slug == "tenant-a"
    assert events[0].outcome == "denied"


def test_refresh_is_bound_to_its_client(alice, public_client):
    body = _tokens(alice, public_client["client_id"], "tools:call")
    other = flow.register(Client(), client_name="Other")
    response = flow.refresh(Client(), other["client_id"], body["refresh_token"])
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == "invalid_grant"


def test_a_demoted_user_loses_admin_on_refresh(alice, public_client):
    body = _tokens(alice, public_client["client_id"], "tools:call admin")
    Membership.objects.filter(user__username="alice").update(role="member")
    response = flow.refresh(Client(), public_client["client_id"], body["refresh_token"])
    assert response.status_code == HTTPStatus.OK
    assert _verify(response.json()["access_token"])["scope"] == "tools:call"


def test_unknown_client_is_401_invalid_client(demo):
    response = Client().post(
        "/token",
        {"grant_type": "authorization_code", "code": "x", "client_id": "nope"},
    )
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["error"] == "invalid_client"


def test_bad_code_is_invalid_grant(public_client):
    response = Client().post(
        "/token",
        {
            "grant_type": "authorization_code",
            "code": "not-a-code",
            "client_id": public_client["client_id"],
            "redirect_uri": flow.REDIRECT_URI,
            "code_verifier": "v" * 50,
        },
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == "invalid_grant"


def test_token_issuance_is_audited(alice, public_client):
    _tokens(alice, public_client["client_id"], "tools:call")
    event = AuditEvent.objects.get(event="token_issued")
    assert event.user.username == "alice"
    assert event.tenant.slug == "tenant-a"
    assert event.client_id == public_client["client_id"]
    assert AuditEvent.objects.filter(event="consent_granted").exists()
    assert AuditEvent.objects.filter(event="client_registered").exists()

import base64
from http import HTTPStatus
from io import StringIO

import jwt
import pytest
from django.core.management import call_command
from django.test import Client

from audit.models import AuditEvent
from oauth.models import ClientProfile, Revocation, SigningKey
from tests.oauth import flow

pytestmark = pytest.mark.django_db


def _token(browser, registration, scope="tools:call") -> dict:
    auth = flow.start(registration["client_id"], scope=scope)
    params = flow.authorize_code(browser, auth)
    response = flow.exchange(Client(), auth, params["code"])
    assert response.status_code == HTTPStatus.OK
    return response.json()


def _resource_server() -> tuple[str, str]:
    registration = flow.register(
        Client(), client_name="RS", token_endpoint_auth_method="client_secret_basic"
    )
    ClientProfile.objects.filter(
        application__client_id=registration["client_id"]
    ).update(is_resource_server=True)
    return registration["client_id"], registration["client_secret"]


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def test_a_public_client_revokes_its_access_token(alice, public_client):
    token = _token(alice, public_client)
    response = Client().post(
        "/revoke",
        {"token": token["access_token"], "client_id": public_client["client_id"]},
    )
    assert response.status_code == HTTPStatus.OK
    jti = jwt.decode(token["access_token"], options={"verify_signature": False})["jti"]
    assert Revocation.objects.filter(kind="jti", subject=jti).exists()
    assert AuditEvent.objects.filter(event="token_revoked").exists()
    # The bound refresh token dies with it.
    refreshed = flow.refresh(
        Client(), public_client["client_id"], token["refresh_token"]
    )
    assert refreshed.status_code == HTTPStatus.BAD_REQUEST


def test_revoking_a_refresh_token_refuses_its_access_token_at_mcp(alice, public_client):
    token = _token(alice, public_client)
    Client().post(
        "/revoke",
        {
            "token": token["refresh_token"],
            "token_type_hint": "refresh_token",
            "client_id": public_client["client_id"],
        },
    )
    jti = jwt.decode(token["access_token"], options={"verify_signature": False})["jti"]
    assert Revocation.objects.filter(kind="jti", subject=jti).exists()


def test_another_client_cannot_revoke_a_token(alice, public_client):
    token = _token(alice, public_client)
    other = flow.register(Client(), client_name="Other")
    Client().post(
        "/revoke", {"token": token["access_token"], "client_id": other["client_id"]}
    )
    assert not Revocation.objects.exists()


def test_resource_servers_introspect_with_tenant_and_subject(alice, public_client):
    token = _token(alice, public_client, "tools:call admin")
    client_id, secret = _resource_server()
    response = Client().post(
        "/introspect",
        {"token": token["access_token"]},
        HTTP_AUTHORIZATION=_basic(client_id, secret),
    )
    assert response.status_code == HTTPStatus.OK, response.content
    data = response.json()
    claims = jwt.decode(token["access_token"], options={"verify_signature": False})
    assert data["active"] is True
    assert data["scope"] == "admin tools:call"
    assert data["client_id"] == public_client["client_id"]
    assert data["sub"] == claims["sub"]
    assert data["tenant_id"] == claims["tenant_id"]
    assert data["aud"] == claims["aud"]
    assert data["exp"] == claims["exp"]


def test_revoked_tokens_introspect_inactive(alice, public_client):
    token = _token(alice, public_client)
    Client().post(
        "/revoke",
        {"token": token["access_token"], "client_id": public_client["client_id"]},
    )
    client_id, secret = _resource_server()
    data = (
        Client()
        .post(
            "/introspect",
            {"token": token["access_token"]},
            HTTP_AUTHORIZATION=_basic(client_id, secret),
        )
        .json()
    )
    assert data == {"active": False}


def test_ordinary_confidential_clients_may_not_introspect(alice, public_client):
    token = _token(alice, public_client)
    registration = flow.register(
        Client(), client_name="Nosy", token_endpoint_auth_method="client_secret_basic"
    )
    response = Client().post(
        "/introspect",
        {"token": token["access_token"]},
        HTTP_AUTHORIZATION=_basic(
            registration["client_id"], registration["client_secret"]
        ),
    )
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["error"] == "unauthorized_client"


def test_unauthenticated_introspection_is_401(alice, public_client):
    token = _token(alice, public_client)
    response = Client().post("/introspect", {"token": token["access_token"]})
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["error"] == "invalid_client"


def test_rotation_keeps_old_tokens_verifiable(alice, public_client):
    before = _token(alice, public_client)
    out = StringIO()
    call_command("rotate_signing_key", stdout=out)
    assert "New key" in out.getvalue()
    after = _token(alice, public_client)
    keys = {k["kid"]: k for k in Client().get("/.well-known/jwks.json").json()["keys"]}
    assert len(keys) == 2
    for token in (before, after):
        kid = jwt.get_unverified_header(token["access_token"])["kid"]
        jwt.decode(
            token["access_token"],
            jwt.PyJWK(keys[kid]).key,
            algorithms=["RS256"],
            audience="http://localhost:8000/mcp",
        )
    assert SigningKey.objects.filter(is_active=True).count() == 1


def test_a_token_signed_by_an_unpublished_key_does_not_verify(alice, public_client):
    token = _token(alice, public_client)
    header = jwt.get_unverified_header(token["access_token"])
    forged = jwt.encode(
        jwt.decode(token["access_token"], options={"verify_signature": False}),
        "not-the-key-" * 4,
        algorithm="HS256",
        headers={"kid": header["kid"]},
    )
    key = Client().get("/.well-known/jwks.json").json()["keys"][0]
    with pytest.raises(jwt.PyJWTError):
        jwt.decode(forged, jwt.PyJWK(key).key, algorithms=["RS256"], audience="x")

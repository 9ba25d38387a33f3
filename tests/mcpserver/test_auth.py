"""Bearer tokens at /mcp: what is accepted, what is refused, and how fast."""

import base64
import hashlib
import hmac
import json
import time
from datetime import timedelta
from http import HTTPStatus
from typing import Any

import anyio
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.utils import timezone
from oauth2_provider.models import get_application_model

from accounts.models import User
from audit.models import AuditEvent
from mcpserver import keystore, revocations
from mcpserver.auth import InvalidToken, authenticate
from mcpserver.db import run_db
from oauth.keys import active_signing_key, rotate_signing_key, sign_access_token
from oauth.models import ClientProfile, Revocation, SigningKey
from oauth.tokens import revoke_jti, revoke_subject
from tenants.models import Membership, Tenant
from tests.mcpserver.conftest import (
    Demo,
    call_params,
    http_client,
    post_rpc,
    rpc_headers,
    running_app,
)

pytestmark = pytest.mark.django_db(transaction=True)

RESOURCE_METADATA = f"{settings.PUBLIC_URL}/.well-known/oauth-protected-resource/mcp"
INVALID_TOKEN_CHALLENGE = (
    f'Bearer error="invalid_token", resource_metadata="{RESOURCE_METADATA}", '
    'scope="tools:call"'
)


def _claims(demo: Demo, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": settings.PUBLIC_URL,
        "sub": str(demo.users["carol"].pk),
        "aud": settings.MCP_RESOURCE_URL,
        "client_id": demo.client_id,
        "scope": "tools:call",
        "tenant_id": str(demo.tenants["tenant-b"].pk),
        "tenant": "tenant-b",
        "jti": f"jti-{time.monotonic_ns()}",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def _foreign_rsa_token(claims: dict[str, Any], kid: str) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(
        claims, key, algorithm="RS256", headers={"kid": kid, "typ": "at+jwt"}
    )


def _b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _hs256(claims: dict[str, Any], secret: str, kid: str) -> str:
    """A token "signed" with our public key as an HMAC secret (key confusion)."""
    signing_input = (
        f"{_b64({'alg': 'HS256', 'kid': kid, 'typ': 'at+jwt'})}.{_b64(claims)}"
    )
    mac = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


async def _status(token: str | None) -> int:
    return (await post_rpc(token, "tools/list")).status_code


async def test_no_token_gets_the_discovery_challenge(mcp_app: Demo) -> None:
    response = await post_rpc(None, "tools/list")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.headers["www-authenticate"] == (
        f'Bearer resource_metadata="{RESOURCE_METADATA}", scope="tools:call"'
    )


async def test_a_basic_authorization_header_is_no_bearer_token(mcp_app: Demo) -> None:
    response = await post_rpc(
        None, "tools/list", headers={"Authorization": "Basic eA=="}
    )
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert "error=" not in response.headers["www-authenticate"]


async def test_a_valid_token_is_accepted(mcp_app: Demo) -> None:
    token = await run_db(sign_access_token, _claims(mcp_app))
    assert await _status(token) == HTTPStatus.OK


def _bad_tokens(demo: Demo) -> dict[str, str]:
    kid = active_signing_key().kid
    now = int(time.time())
    good = sign_access_token(_claims(demo))
    header, payload, signature = good.split(".")
    tampered_claims = _claims(demo, scope="tools:call admin")
    return {
        "expired": sign_access_token(
            _claims(demo, iat=now - 900, nbf=now - 900, exp=now - 60)
        ),
        "not yet valid": sign_access_token(_claims(demo, nbf=now + 600)),
        "wrong audience": sign_access_token(
            _claims(demo, aud="http://evil.example/mcp")
        ),
        "audience list": sign_access_token(
            _claims(demo, aud=[settings.MCP_RESOURCE_URL, "http://other.example"])
        ),
        "wrong issuer": sign_access_token(_claims(demo, iss="http://evil.example")),
        "missing tenant_id": sign_access_token(_claims(demo, tenant_id=None)),
        "missing jti": sign_access_token(_claims(demo, jti=None)),
        "malformed sub": sign_access_token(_claims(demo, sub="carol")),
        "tampered": f"{header}.{_b64(tampered_claims)}.{signature}",
        "foreign key, our kid": _foreign_rsa_token(_claims(demo), kid),
        "foreign key, own kid": _foreign_rsa_token(_claims(demo), "attacker-kid"),
        "alg none": f"{_b64({'alg': 'none', 'kid': kid, 'typ': 'at+jwt'})}.{payload}.",
        "hs256 confusion": _hs256(
            _claims(demo), json.dumps(keystore.load_key_rows()[0][2]), kid
        ),
        "not an access token": jwt.encode(
            _claims(demo),
            active_signing_key().private_key,
            algorithm="RS256",
            headers={"kid": kid},
        ),
        "garbage": "not-a-jwt",
    }


async def test_bad_tokens_get_401_invalid_token(mcp_app: Demo) -> None:
    tokens = await run_db(_bad_tokens, mcp_app)
    for name, token in tokens.items():
        response = await post_rpc(token, "tools/list")
        assert response.status_code == HTTPStatus.UNAUTHORIZED, name
        assert response.headers["www-authenticate"] == INVALID_TOKEN_CHALLENGE, name
        assert response.json()["error"] == "invalid_token", name


async def test_refusal_reasons(demo: Demo) -> None:
    tokens = await run_db(_bad_tokens, demo)
    await revocations.refresh()
    reasons = {}
    for name, token in tokens.items():
        with pytest.raises(InvalidToken) as refused:
            await authenticate(token)
        reasons[name] = refused.value.description
    assert reasons["expired"] == "token expired"
    assert reasons["wrong audience"] == "token not issued for this resource"
    assert reasons["audience list"] == "token not issued for this resource"
    assert reasons["tampered"] == "bad signature"
    assert reasons["foreign key, our kid"] == "bad signature"
    assert reasons["foreign key, own kid"] == "unknown signing key"
    assert reasons["alg none"] == "unexpected algorithm"
    assert reasons["hs256 confusion"] == "unexpected algorithm"
    assert reasons["not an access token"] == "not an access token (typ)"
    assert reasons["missing tenant_id"] == "missing tenant_id claim"


async def test_verification_makes_no_database_query(
    demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await demo.atoken("carol")
    await revocations.refresh()
    principal = await authenticate(token)  # first sight of carol's subjects

    async def no_database(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("database queried while verifying a token")

    monkeypatch.setattr(revocations, "run_db", no_database)
    monkeypatch.setattr(keystore, "run_db", no_database)
    for _ in range(5):
        assert await authenticate(token) == principal
    assert principal.user_id == demo.users["carol"].pk
    assert principal.tenant_slug == "tenant-b"
    assert principal.scopes == frozenset({"tools:call"})


async def test_a_stale_feed_that_cannot_be_read_fails_closed(
    demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await demo.atoken("carol")

    async def database_down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("database down")

    monkeypatch.setattr(revocations, "run_db", database_down)
    async with running_app():
        response = await post_rpc(token, "tools/list")
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.headers["retry-after"] == "1"


async def test_a_rotated_key_verifies_at_once(mcp_app: Demo) -> None:
    before = await mcp_app.atoken("carol")
    assert await _status(before) == HTTPStatus.OK
    await run_db(rotate_signing_key)
    after = await mcp_app.atoken("carol")
    assert await _status(after) == HTTPStatus.OK
    assert await _status(before) == HTTPStatus.OK


async def _refused_within(token: str, seconds: float) -> float:
    """Seconds until `token` is refused; fails after `seconds`."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if await _status(token) == HTTPStatus.UNAUTHORIZED:
            return time.monotonic() - started
        await anyio.sleep(0.02)
    raise AssertionError(f"token still accepted after {seconds} s")


async def test_a_revoked_token_is_refused_within_a_second(mcp_app: Demo) -> None:
    minted = await run_db(mcp_app.minted, "carol")
    other = await mcp_app.atoken("carol")
    assert await _status(minted.token) == HTTPStatus.OK

    await run_db(revoke_jti, jti=minted.claims["jti"])
    assert await _refused_within(minted.token, 1.0) < 1.0
    assert await _status(other) == HTTPStatus.OK

    reply = await post_rpc(minted.token, "tools/call", call_params("echo", message="m"))
    assert reply.status_code == HTTPStatus.UNAUTHORIZED
    assert reply.headers["www-authenticate"] == INVALID_TOKEN_CHALLENGE
    assert reply.json()["error_description"] == "token revoked"
    denied = await run_db(
        lambda: list(AuditEvent.objects.filter(event="tool_denied").values("reason"))
    )
    assert denied == [{"reason": "invalid token: token revoked"}]


@pytest.mark.parametrize("kind", ["user", "client", "tenant"])
async def test_a_revoked_subject_refuses_older_tokens_only(
    mcp_app: Demo, kind: str
) -> None:
    token = await mcp_app.atoken("carol")
    subject = {
        "user": str(mcp_app.users["carol"].pk),
        "client": mcp_app.client_id,
        "tenant": str(mcp_app.tenants["tenant-b"].pk),
    }[kind]
    await run_db(revoke_subject, kind=kind, subject=subject)
    assert await _refused_within(token, 1.0) < 1.0

    cutoff = await run_db(
        lambda: Revocation.objects.get(kind=kind, subject=subject).created_at
    )
    later = await mcp_app.atoken("carol", now=int(cutoff.timestamp()) + 1)
    assert await _status(later) == HTTPStatus.OK


def _deactivate_user(demo: Demo) -> None:
    User.objects.filter(pk=demo.users["carol"].pk).update(is_active=False)


def _deactivate_tenant(demo: Demo) -> None:
    Tenant.objects.filter(slug="tenant-b").update(is_active=False)


def _delete_client(demo: Demo) -> None:
    get_application_model().objects.filter(client_id=demo.client_id).delete()


def _disable_client(demo: Demo) -> None:
    application = get_application_model().objects.get(client_id=demo.client_id)
    ClientProfile.objects.update_or_create(
        application=application, defaults={"is_disabled": True}
    )


def _remove_membership(demo: Demo) -> None:
    Membership.objects.filter(user=demo.users["carol"]).delete()


@pytest.mark.parametrize(
    "disable",
    [
        _deactivate_user,
        _deactivate_tenant,
        _delete_client,
        _disable_client,
        _remove_membership,
    ],
    ids=["user", "tenant", "deleted client", "disabled client", "membership"],
)
async def test_an_admin_change_refuses_live_tokens_within_a_second(
    mcp_app: Demo, disable: Any
) -> None:
    """Even without a feed entry (a plain edit in the admin)."""
    token = await mcp_app.atoken("carol")
    assert await _status(token) == HTTPStatus.OK
    await run_db(disable, mcp_app)
    assert await _refused_within(token, 1.0) < 1.0


async def test_a_disabled_user_is_refused_on_first_sight(mcp_app: Demo) -> None:
    token = await mcp_app.atoken("carol")
    await run_db(_deactivate_user, mcp_app)
    assert await _status(token) == HTTPStatus.UNAUTHORIZED


async def test_a_token_for_a_tenant_the_user_is_not_in_is_refused(
    mcp_app: Demo,
) -> None:
    token = await mcp_app.atoken("carol", tenant="tenant-a")
    assert await _status(token) == HTTPStatus.UNAUTHORIZED


async def test_a_token_in_the_query_string_is_refused(mcp_app: Demo) -> None:
    token = await mcp_app.atoken("carol")
    async with http_client() as client:
        response = await client.post(
            f"/mcp?access_token={token}",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers=rpc_headers(),
        )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "query string" in response.json()["error_description"]
    assert response.headers["www-authenticate"].startswith(
        'Bearer error="invalid_request"'
    )


async def test_the_challenge_leads_to_this_resources_metadata(mcp_app: Demo) -> None:
    challenge = (await post_rpc(None, "tools/list")).headers["www-authenticate"]
    url = challenge.split('resource_metadata="', 1)[1].split('"', 1)[0]
    async with http_client() as client:
        metadata = await client.get(url)
    assert metadata.status_code == HTTPStatus.OK
    assert metadata.json()["resource"] == settings.MCP_RESOURCE_URL


async def test_a_token_is_verified_once_then_answered_from_the_cache(
    demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await demo.atoken("carol")
    await revocations.refresh()
    verifications = []
    real_decode = jwt.decode

    def counting_decode(*args: Any, **kwargs: Any) -> Any:
        verifications.append(1)
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting_decode)
    principals = {await authenticate(token) for _ in range(5)}
    assert len(principals) == 1
    assert len(verifications) == 1


async def test_a_cached_token_is_refused_once_it_expires(demo: Demo) -> None:
    # Three seconds to live (past the leeway), so a loaded machine still
    # verifies it before it expires (one second was not always enough).
    token = await run_db(
        demo.token,
        "carol",
        lifetime=3,
        now=int(time.time() - settings.MCP_CLOCK_LEEWAY_SECONDS),
    )
    await revocations.refresh()
    await authenticate(token)  # verified and cached
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    refused_from = expires + settings.MCP_CLOCK_LEEWAY_SECONDS
    await anyio.sleep(max(refused_from - time.time(), 0) + 0.2)
    with pytest.raises(InvalidToken, match="token expired"):
        await authenticate(token)


async def test_a_cached_token_is_refused_when_its_key_is_withdrawn(
    demo: Demo,
) -> None:
    """A key retired past every token's lifetime leaves the JWKS; so do its tokens."""
    token = await demo.atoken("carol")
    await revocations.refresh()
    await authenticate(token)  # verified and cached
    kid = jwt.get_unverified_header(token)["kid"]

    def withdraw() -> None:
        rotate_signing_key()
        SigningKey.objects.filter(kid=kid).update(
            retired_at=timezone.now() - timedelta(days=1)
        )

    await run_db(withdraw)
    await revocations.refresh()  # the poll that follows the keys
    with pytest.raises(InvalidToken, match="unknown signing key"):
        await authenticate(token)

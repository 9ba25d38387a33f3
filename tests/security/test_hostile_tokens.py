"""Hostile access tokens at /mcp (issue #14 item 3): the exact refusal.

Each case prepares its token (and any change to users, tenants, clients or
keys) before the application starts, so the per-process caches begin from
the state under test, then sends one `tools/call echo` and asserts the
answer: status, OAuth error body and `WWW-Authenticate` challenge. Nothing
may change but the audit log: a token that is ours but refused anyway
(forged tenant, disabled subject) leaves one `tool_denied` row naming the
reason; every other refusal leaves none.
"""

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from http import HTTPStatus
from typing import Any

import jwt
import pytest
from asgiref.sync import sync_to_async
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application, Grant, RefreshToken

from accounts.models import User
from audit.models import AuditEvent
from mcpserver.challenges import error_challenge
from oauth import keys
from oauth.models import ClientProfile, Revocation, SigningKey
from tenants.models import Document, Tenant
from tests.mcpserver.conftest import (
    Demo,
    _fresh_process_state,
    call_params,
    demo,
    http_client,
    rpc_body,
    rpc_headers,
    running_app,
)
from tests.oauth import flow

__all__ = ["_fresh_process_state", "demo"]  # fixtures, for pytest

pytestmark = pytest.mark.django_db(transaction=True)

ECHO = json.dumps(rpc_body("tools/call", call_params("echo", message="hi")))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _compact(header: dict[str, Any], claims: dict[str, Any], signature: bytes) -> str:
    signing_input = (
        _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
    )
    return signing_input + "." + _b64(signature)


def _claims(demo: Demo, username: str = "alice", **changes: Any) -> dict[str, Any]:
    """A valid token's claims for `username`, with `changes` (None deletes)."""
    claims = dict(demo.minted(username).claims)
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def _signed(claims: dict[str, Any]) -> str:
    """`claims` signed by the active key, as the authorization server signs."""
    return keys.sign_access_token(claims)


def _alg_none(demo: Demo) -> str:
    header = {"alg": "none", "typ": "at+jwt", "kid": keys.active_signing_key().kid}
    return _compact(header, _claims(demo), b"")


def _hs256_with_the_public_key(demo: Demo) -> str:
    """The classic key-confusion forgery: HMAC keyed with the public PEM."""
    loaded = keys.active_signing_key()
    secret = loaded.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "at+jwt", "kid": loaded.kid}
    claims = _claims(demo)
    signing_input = ".".join(
        _b64(json.dumps(part).encode()) for part in (header, claims)
    ).encode()
    signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    return _compact(header, claims, signature)


def _unknown_kid(demo: Demo) -> str:
    token = _signed(_claims(demo))
    header, payload, signature = token.split(".")
    forged = json.loads(base64.urlsafe_b64decode(header + "=="))
    forged["kid"] = "no-such-key"
    return ".".join([_b64(json.dumps(forged).encode()), payload, signature])


def _expired(demo: Demo) -> str:
    now = int(time.time()) - 3600
    return demo.token("alice", now=now, lifetime=60)


def _not_yet_valid(demo: Demo) -> str:
    now = int(time.time())
    return _signed(_claims(demo, nbf=now + 3600, iat=now, exp=now + 7200))


def _typ_jwt(demo: Demo) -> str:
    """An ID-token-shaped JWT (typ JWT) is not an access token (RFC 9068 §4)."""
    loaded = keys.active_signing_key()
    return jwt.encode(
        _claims(demo),
        loaded.private_key,
        algorithm=loaded.algorithm,
        headers={"kid": loaded.kid, "typ": "JWT"},
    )


def _spliced_signature(demo: Demo) -> str:
    """Alice's claims under the signature of bob's token (same key)."""
    alice = demo.token("alice").rsplit(".", 1)[0]
    bob_signature = demo.token("bob").rsplit(".", 1)[1]
    return f"{alice}.{bob_signature}"


def _retired_long_ago(demo: Demo) -> str:
    """A token of a key retired beyond every token's lifetime (not published).

    Its own `exp` is still in the future: only the key's retirement refuses it.
    """
    token = demo.token("alice")
    keys.rotate_signing_key()
    SigningKey.objects.filter(is_active=False).update(
        retired_at=timezone.now() - timedelta(days=2)
    )
    return token


def _disable_tenant(demo: Demo) -> str:
    token = demo.token("alice")
    Tenant.objects.filter(slug="tenant-a").update(is_active=False)
    return token


def _disable_user(demo: Demo) -> str:
    token = demo.token("alice")
    User.objects.filter(username="alice").update(is_active=False)
    return token


def _disable_client(demo: Demo) -> str:
    token = demo.token("alice")
    ClientProfile.objects.update_or_create(
        application=Application.objects.get(client_id=demo.client_id),
        defaults={"is_disabled": True},
    )
    return token


def _refresh_token(demo: Demo) -> str:
    """A real refresh token, from the whole authorization-code flow."""
    registered = flow.register(Client())
    browser = Client()
    browser.force_login(demo.users["alice"])
    auth = flow.start(registered["client_id"])
    code = flow.authorize_code(browser, auth)["code"]
    response = flow.exchange(Client(), auth, code)
    assert response.status_code == HTTPStatus.OK, response.content
    return response.json()["refresh_token"]


@dataclass(frozen=True)
class Case:
    """A hostile token, what /mcp answers to it, and the audit row it leaves."""

    make: Callable[[Demo], str]
    description: str
    audited: bool = False


CASES = {
    "alg-none": Case(_alg_none, "unexpected algorithm"),
    "hs256-public-key": Case(_hs256_with_the_public_key, "unexpected algorithm"),
    "unknown-kid": Case(_unknown_kid, "unknown signing key"),
    "expired": Case(_expired, "token expired"),
    "nbf-in-the-future": Case(_not_yet_valid, "token not yet valid"),
    "wrong-aud": Case(
        lambda demo: _signed(_claims(demo, aud="https://other.example/mcp")),
        "token not issued for this resource",
    ),
    "aud-list-with-ours": Case(
        lambda demo: _signed(
            _claims(demo, aud=[settings.MCP_RESOURCE_URL, "https://other.example"])
        ),
        "token not issued for this resource",
    ),
    "wrong-iss": Case(
        lambda demo: _signed(_claims(demo, iss="https://evil.example")),
        "token not issued for this resource",
    ),
    "missing-tenant-id": Case(
        lambda demo: _signed(_claims(demo, tenant_id=None)),
        "missing tenant_id claim",
    ),
    "malformed-tenant-id": Case(
        lambda demo: _signed(_claims(demo, tenant_id="01")),
        "malformed tenant_id claim",
    ),
    "forged-tenant-id": Case(
        lambda demo: _signed(_claims(demo, tenant_id=str(demo.tenants["tenant-b"].pk))),
        "user inactive or not a member of the tenant",
        audited=True,
    ),
    "disabled-tenant": Case(_disable_tenant, "tenant inactive", audited=True),
    "disabled-user": Case(
        _disable_user, "user inactive or not a member of the tenant", audited=True
    ),
    "disabled-client": Case(_disable_client, "client disabled", audited=True),
    "key-retired-long-ago": Case(_retired_long_ago, "unknown signing key"),
    "typ-jwt": Case(_typ_jwt, "not an access token (typ)"),
    "refresh-token-as-bearer": Case(_refresh_token, "malformed token"),
    # Cut at its last dot: the byte count of a cut inside the signature
    # decides whether it is malformed or a bad signature.
    "truncated": Case(
        lambda demo: demo.token("alice").rsplit(".", 1)[0], "malformed token"
    ),
    "another-tokens-signature": Case(_spliced_signature, "bad signature"),
    "garbage": Case(lambda demo: "garbage.garbage.garbage", "malformed token"),
    "oversized": Case(lambda demo: "a" * 9000, "token too large"),
}


def _state() -> dict[str, int]:
    """Row counts of everything a refusal must leave alone."""
    return {
        "access_tokens": AccessToken.objects.count(),
        "refresh_tokens": RefreshToken.objects.count(),
        "grants": Grant.objects.count(),
        "applications": Application.objects.count(),
        "documents": Document.objects.count(),
        "revocations": Revocation.objects.count(),
        "signing_keys": SigningKey.objects.count(),
        "active_users": User.objects.filter(is_active=True).count(),
    }


def _audit_rows() -> list[dict[str, Any]]:
    return list(
        AuditEvent.objects.order_by("id").values(
            "event", "outcome", "tool", "reason", "user__username"
        )
    )


async def _call(headers: list[tuple[str, str]], path: str = "/mcp") -> Any:
    """POST the echo call with exactly `headers` (repeated names kept)."""
    async with http_client() as client:
        return await client.post(
            path, content=ECHO, headers=[*rpc_headers().items(), *headers]
        )


def _assert_invalid_token(response: Any, description: str) -> None:
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.headers["www-authenticate"] == error_challenge("invalid_token")
    assert response.json() == {
        "error": "invalid_token",
        "error_description": description,
    }


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_a_hostile_token_is_refused_and_changes_nothing(
    demo: Demo, case: Case
) -> None:
    token = await sync_to_async(case.make)(demo)
    before = await sync_to_async(_state)()
    audit_before = await sync_to_async(AuditEvent.objects.count)()

    async with running_app():
        response = await _call([("Authorization", f"Bearer {token}")])

    _assert_invalid_token(response, case.description)
    assert await sync_to_async(_state)() == before
    rows = (await sync_to_async(_audit_rows)())[audit_before:]
    if case.audited:
        assert rows == [
            {
                "event": "tool_denied",
                "outcome": "denied",
                "tool": "echo",
                "reason": f"invalid token: {case.description}",
                "user__username": "alice",
            }
        ]
    else:
        assert rows == []


@pytest.mark.parametrize(
    ("headers", "status", "error", "description"),
    [
        pytest.param(
            [("Authorization", "Bearer ")],
            HTTPStatus.UNAUTHORIZED,
            "invalid_token",
            "Empty bearer token.",
            id="empty-bearer",
        ),
        pytest.param(
            [("Authorization", "Bearer a"), ("Authorization", "Bearer b")],
            HTTPStatus.BAD_REQUEST,
            "invalid_request",
            "More than one Authorization header.",
            id="two-authorization-headers",
        ),
    ],
)
async def test_a_malformed_authorization_header_is_refused(
    demo: Demo,
    headers: list[tuple[str, str]],
    status: HTTPStatus,
    error: str,
    description: str,
) -> None:
    before = await sync_to_async(_state)()
    async with running_app():
        response = await _call(headers)
    assert response.status_code == status
    assert response.headers["www-authenticate"] == error_challenge(error)
    assert response.json() == {"error": error, "error_description": description}
    assert await sync_to_async(_state)() == before
    assert await sync_to_async(_audit_rows)() == []


@pytest.mark.parametrize("with_header", [False, True], ids=["alone", "with-header"])
async def test_a_token_in_the_query_string_is_refused(
    demo: Demo, with_header: bool
) -> None:
    """RFC 6750 §2.3 is not offered, even beside a valid header (RFC 6750 §2)."""
    token = await sync_to_async(demo.token)("alice")
    headers = [("Authorization", f"Bearer {token}")] if with_header else []
    before = await sync_to_async(_state)()
    async with running_app():
        response = await _call(headers, path=f"/mcp?access_token={token}")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.headers["www-authenticate"] == error_challenge("invalid_request")
    assert response.json()["error"] == "invalid_request"
    assert "query string" in response.json()["error_description"]
    assert token not in response.text
    assert await sync_to_async(_state)() == before
    assert await sync_to_async(_audit_rows)() == []


async def test_a_valid_token_is_accepted_by_the_same_request(demo: Demo) -> None:
    """The control: the request every case above spoils is otherwise answered."""
    token = await sync_to_async(demo.token)("alice")
    async with running_app():
        response = await _call([("Authorization", f"Bearer {token}")])
    assert response.status_code == HTTPStatus.OK
    assert response.json()["result"]["isError"] is False

"""The access-token contract shared by the authorization server and /mcp.

Access tokens are RFC 9068 JWTs signed with the active key (oauth/keys.py):
header `typ: at+jwt`, `kid`, `alg` RS256 (or ES256); claims `iss`
(PUBLIC_URL), `sub` (the user's pk as a string), `aud` (the MCP resource,
PUBLIC_URL + "/mcp"), `client_id`, `scope` (space-separated), `tenant_id`
(the tenant's pk as a string), `tenant` (its slug, informational), `jti`,
`iat`, `nbf`, `exp`. `aud` is instead a registered resource server's URL
when the token was requested for it (oauth/resources.py).
"""

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction

from oauth.keys import sign_access_token
from oauth.models import Revocation

REQUIRED_CLAIMS = (
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "jti",
    "client_id",
    "scope",
    "tenant_id",
)


@dataclass(frozen=True)
class MintedToken:
    token: str
    claims: dict[str, Any]


def access_token_lifetime() -> int:
    """Seconds an access token lives (OAUTH2_PROVIDER ACCESS_TOKEN_EXPIRE_SECONDS)."""
    return int(settings.OAUTH2_PROVIDER["ACCESS_TOKEN_EXPIRE_SECONDS"])


def mint_access_token(
    *,
    user_id: int,
    client_id: str,
    scopes: list[str] | tuple[str, ...] | frozenset[str],
    tenant_id: int,
    tenant_slug: str = "",
    lifetime: int | None = None,
    now: int | None = None,
    audience: str | None = None,
) -> MintedToken:
    """Return a signed access token for `user_id` in `tenant_id`.

    The scopes are what the login granted; nothing here widens them.
    `audience` is the one resource the token is for (default this
    server's /mcp); the caller has checked it is allowed.
    """
    issued_at = int(time.time()) if now is None else now
    claims: dict[str, Any] = {
        "iss": settings.PUBLIC_URL,
        "sub": str(user_id),
        "aud": settings.MCP_RESOURCE_URL if audience is None else audience,
        "client_id": client_id,
        "scope": " ".join(sorted(set(scopes))),
        "tenant_id": str(tenant_id),
        "jti": uuid.uuid4().hex,
        "iat": issued_at,
        "nbf": issued_at,
        "exp": issued_at + (access_token_lifetime() if lifetime is None else lifetime),
    }
    if tenant_slug:
        claims["tenant"] = tenant_slug
    return MintedToken(token=sign_access_token(claims), claims=claims)


def _expiry_horizon() -> datetime:
    return datetime.now(tz=UTC) + timedelta(seconds=access_token_lifetime() + 60)


def revoke_jti(
    *, jti: str, expires_at: datetime | None = None, reason: str = ""
) -> None:
    """Refuse the access token with `jti` at every MCP worker (joins a transaction)."""
    with transaction.atomic():
        Revocation.objects.create(
            kind=Revocation.Kind.JTI,
            subject=jti,
            reason=reason[:200],
            expires_at=expires_at or _expiry_horizon(),
        )


def revoke_subject(
    *, kind: str, subject: str, reason: str = "", tenant_id: int | None = None
) -> None:
    """Refuse every live token of a user, client or tenant (joins a transaction).

    With `tenant_id`, only the user's or client's tokens for that tenant.
    """
    if tenant_id is not None and kind == Revocation.Kind.TENANT:
        raise ValueError("a tenant entry is already limited to its tenant")
    with transaction.atomic():
        Revocation.objects.create(
            kind=kind,
            subject=subject,
            reason=reason[:200],
            tenant_id=tenant_id,
            expires_at=_expiry_horizon(),
        )

"""Access-token verification for /mcp: bearer JWT in, Principal out.

The token contract is oauth/tokens.py. A token is accepted when:

- its header names `typ: at+jwt` and a `kid` of one of our published keys,
  and its `alg` is that key's algorithm (RS256 or ES256; nothing else);
- the signature verifies; `iss` is the issuer (PUBLIC_URL, or in
  resource-server mode MCP_AUTHORIZATION_SERVER); `aud` is exactly the MCP
  resource (MCP_RESOURCE_URL); `exp`/`nbf`/`iat` hold within
  MCP_CLOCK_LEEWAY_SECONDS (mcpserver/clock.py); every claim in
  REQUIRED_CLAIMS (the tenant and scope claims as MCP_TOKEN_TENANT_CLAIM
  and MCP_TOKEN_SCOPE_CLAIM name them) is present and well-formed;
- neither the revocation feed nor the subject status refuses it
  (mcpserver/revocations.py), with data at most one second old, and the
  member's current role still entitles every scope it carries.

Nothing here queries the database per request: keys and revocations are
per-process caches refreshed in the background, from the database or, in
resource-server mode, from the issuer over HTTP (mcpserver/jwks_cache.py,
mcpserver/remote_feed.py). There, once the issuer's feed has been
unreachable for longer than MCP_ISSUER_UNREACHABLE_SECONDS, a token this
process has not accepted before is refused (fail closed, 503).
"""

from dataclasses import dataclass, field, replace
from typing import Any

import jwt
from django.conf import settings

from mcpserver import clock, revocations
from mcpserver.jwks_cache import JWKS
from mcpserver.keystore import ALLOWED_ALGORITHMS, KEYS, VerificationKey
from mcpserver.remote_feed import REMOTE_FEED
from mcpserver.token_claims import (
    InvalidToken,
    check_times,
    nonempty_str,
    positive_int,
    required_claims,
    scopes,
)
from oauth.keys import JWT_TYPE

MAX_TOKEN_BYTES = 8192

FeedUnavailable = revocations.FeedUnavailable


@dataclass(frozen=True)
class Principal:
    """Who is calling: built from a verified access token's claims alone."""

    user_id: int
    tenant_id: int
    tenant_slug: str
    client_id: str
    scopes: frozenset[str]
    jti: str
    exp: int
    token: str = field(repr=False)


class _UnknownKid(Exception):
    def __init__(self, kid: str) -> None:
        super().__init__(kid)
        self.kid = kid


def _principal_from_claims(claims: dict[str, Any], token: str) -> Principal:
    scope_claim = settings.MCP_TOKEN_SCOPE_CLAIM
    tenant_claim = settings.MCP_TOKEN_TENANT_CLAIM
    tenant_slug = claims.get("tenant", "")
    return Principal(
        user_id=positive_int(claims["sub"], "sub"),
        tenant_id=positive_int(claims[tenant_claim], tenant_claim),
        tenant_slug=tenant_slug if isinstance(tenant_slug, str) else "",
        client_id=nonempty_str(claims["client_id"], "client_id"),
        scopes=scopes(claims[scope_claim], scope_claim),
        jti=nonempty_str(claims["jti"], "jti"),
        exp=int(claims["exp"]),
        token=token,
    )


@dataclass(frozen=True)
class _Verified:
    principal: Principal
    claims: dict[str, Any]
    key: VerificationKey
    accepted: bool = False  # authenticate() let it through at least once


class VerifiedTokens:
    """Tokens whose signature and claims this process has already checked.

    A client sends the same access token with every call until it expires;
    verifying its RS256 signature again each time is most of the cost of
    authentication. An entry is keyed by the exact token string, so a hit
    is the very token that verified; it is used only while its `exp` (plus
    the leeway) holds and while the key that verified it is still the
    published key of that `kid` (a retired or replaced key drops it).
    Revocation and subject status are still checked on every call. At most
    MAX_ENTRIES are kept; the oldest go first.
    """

    MAX_ENTRIES = 4096

    def __init__(self) -> None:
        self._entries: dict[str, _Verified] = {}

    def get(self, token: str) -> _Verified | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        if KEYS.get(entry.key.kid) is not entry.key or (
            clock.now() > entry.principal.exp + clock.leeway()
        ):
            del self._entries[token]
            return None
        return entry

    def accepted(self, token: str) -> bool:
        """Whether `token` verified and was let through before (still cached)."""
        entry = self.get(token)
        return entry is not None and entry.accepted

    def mark_accepted(self, token: str) -> None:
        entry = self._entries.get(token)
        if entry is not None and not entry.accepted:
            self._entries[token] = replace(entry, accepted=True)

    def put(self, token: str, entry: _Verified) -> None:
        if len(self._entries) >= self.MAX_ENTRIES:
            del self._entries[next(iter(self._entries))]
        self._entries[token] = entry

    def clear(self) -> None:
        self._entries.clear()


VERIFIED = VerifiedTokens()


def decode_access_token(token: str) -> tuple[Principal, dict[str, Any]]:
    """Verify `token` against the cached keys; return its Principal and claims.

    Pure CPU, no database. Raises InvalidToken, or _UnknownKid when the
    `kid` is not (yet) among this process's keys. A token verified before
    is answered from VERIFIED while it is unexpired and its key published.
    """
    cached = VERIFIED.get(token)
    if cached is not None:
        return cached.principal, cached.claims
    if len(token) > MAX_TOKEN_BYTES:
        raise InvalidToken("token too large")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise InvalidToken("malformed token") from exc
    if str(header.get("typ", "")).lower() not in (JWT_TYPE, f"application/{JWT_TYPE}"):
        raise InvalidToken("not an access token (typ)")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("no key id")
    key = KEYS.get(kid)
    if key is None:
        raise _UnknownKid(kid)
    if header.get("alg") != key.algorithm or key.algorithm not in ALLOWED_ALGORITHMS:
        raise InvalidToken("unexpected algorithm")
    try:
        claims = jwt.decode(
            token,
            key.key,
            algorithms=[key.algorithm],
            audience=settings.MCP_RESOURCE_URL,
            issuer=settings.MCP_AUTHORIZATION_SERVER or settings.PUBLIC_URL,
            options={
                "require": required_claims(),
                "strict_aud": True,
                # Checked by check_times, on this process's clock.
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except (jwt.InvalidAudienceError, jwt.InvalidIssuerError) as exc:
        raise InvalidToken("token not issued for this resource") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidToken(f"missing {exc.claim} claim") from exc
    except jwt.InvalidSignatureError as exc:
        raise InvalidToken("bad signature") from exc
    except jwt.PyJWTError as exc:
        raise InvalidToken("invalid token") from exc
    check_times(claims)
    principal = _principal_from_claims(claims, token)
    VERIFIED.put(token, _Verified(principal, claims, key))
    return principal, claims


async def authenticate(token: str) -> Principal:
    """Return the Principal of a bearer `token`, or raise.

    Raises InvalidToken (answer 401) or FeedUnavailable (answer 503: the
    revocation data is more than a second old and cannot be refreshed).
    Touches the database only when the feed is stale, on an unknown `kid`
    (at most once a second) and the first time this process sees a
    user, tenant or client.
    """
    await revocations.ensure_fresh()
    seen = VERIFIED.accepted(token)
    try:
        principal, claims = decode_access_token(token)
    except _UnknownKid as unknown:
        # Keys come from the issuer's JWKS in resource-server mode, else
        # from our own database.
        store = JWKS if JWKS.active else KEYS
        if not await store.reload_for_unknown_kid(unknown.kid):
            raise InvalidToken("unknown signing key") from None
        try:
            principal, claims = decode_access_token(token)
        except _UnknownKid:
            raise InvalidToken("unknown signing key") from None
    refusal = revocations.FEED.refusal(
        jti=principal.jti,
        user_id=principal.user_id,
        client_id=principal.client_id,
        tenant_id=principal.tenant_id,
        issued_at=int(claims["iat"]),
    ) or await revocations.subject_refusal(
        user_id=principal.user_id,
        tenant_id=principal.tenant_id,
        client_id=principal.client_id,
    )
    if refusal is None and revocations.SUBJECTS.exceeds_role(
        user_id=principal.user_id,
        tenant_id=principal.tenant_id,
        scopes=principal.scopes,
    ):
        # The role changed since issuance (an administrator demoted): the
        # token is refused, and a refresh mints one the new role entitles.
        refusal = "scope exceeds the member's current role"
    if refusal is not None:
        raise InvalidToken(refusal, claims=claims)
    if not seen:
        if (outage := REMOTE_FEED.unseen_refusal()) is not None:
            raise FeedUnavailable(outage)
        VERIFIED.mark_accepted(token)
    return principal


def reset_process_state() -> None:
    """Forget everything this process learned about tokens.

    The revocation feed, subject states and keys (mcpserver/revocations.py)
    and the tokens already verified: a new server lifespan starts empty.
    """
    revocations.reset()
    VERIFIED.clear()

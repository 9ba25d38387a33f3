"""Reading an access token's claims: presence, shape, and time.

The claim names of the tenant and the scopes come from the claim mapping
(MCP_TOKEN_TENANT_CLAIM, MCP_TOKEN_SCOPE_CLAIM: README "Split
deployment"); `exp`/`nbf`/`iat` are checked on this process's clock with
the configured leeway (mcpserver/clock.py). Every refusal is an
`InvalidToken` (401 `invalid_token`).
"""

from typing import Any

from django.conf import settings

from mcpserver import clock
from oauth.tokens import REQUIRED_CLAIMS


class InvalidToken(Exception):
    """The token is refused (HTTP 401 `invalid_token`).

    `claims` is set when the token was authentic (our signature) but is
    refused anyway (revoked, subject disabled), so the refusal can be
    attributed and audited.
    """

    def __init__(self, description: str, *, claims: dict[str, Any] | None = None):
        super().__init__(description)
        self.description = description
        self.claims = claims


def positive_int(value: Any, claim: str) -> int:
    if isinstance(value, str) and value.isdigit() and not value.startswith("0"):
        return int(value)
    raise InvalidToken(f"malformed {claim} claim")


def nonempty_str(value: Any, claim: str) -> str:
    if isinstance(value, str) and value:
        return value
    raise InvalidToken(f"malformed {claim} claim")


def scopes(value: Any, claim: str) -> frozenset[str]:
    """A space-separated string; from another issuer also a list of strings."""
    if isinstance(value, str):
        return frozenset(value.split())
    if (
        settings.MCP_AUTHORIZATION_SERVER
        and isinstance(value, list)
        and all(isinstance(item, str) and item for item in value)
    ):
        return frozenset(value)
    raise InvalidToken(f"malformed {claim} claim")


def required_claims() -> list[str]:
    """REQUIRED_CLAIMS, with the tenant and scope claims as mapped."""
    mapped = {
        "tenant_id": settings.MCP_TOKEN_TENANT_CLAIM,
        "scope": settings.MCP_TOKEN_SCOPE_CLAIM,
    }
    return [mapped.get(claim, claim) for claim in REQUIRED_CLAIMS]


def check_times(claims: dict[str, Any]) -> None:
    """`iat`, `nbf` and `exp` against this process's clock, with the leeway.

    PyJWT's own checks read the unshifted wall clock; these are its rules
    (an integer each; exp <= now - leeway is expired; nbf or iat after
    now + leeway is not yet valid) on `clock.now()`.
    """
    now, leeway = clock.now(), clock.leeway()
    times = {}
    for claim in ("iat", "nbf", "exp"):
        if claim in claims:
            try:
                times[claim] = int(claims[claim])
            except (ValueError, TypeError, OverflowError):
                raise InvalidToken("invalid token") from None
    if any(times.get(claim, -1) > now + leeway for claim in ("iat", "nbf")):
        raise InvalidToken("token not yet valid")
    if times["exp"] <= now - leeway:
        raise InvalidToken("token expired")

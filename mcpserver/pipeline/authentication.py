"""Stage 2, authentication: the bearer token -> `Principal`, or a refusal.

- no bearer token: 401 with the discovery challenge (RFC 6750 §3, no error
  code, naming the resource metadata and the scope);
- two Authorization headers: 400 `invalid_request`; an empty token: 401;
- a token that does not verify: 401 `invalid_token`. When the token was
  ours but is refused anyway (revoked, user/tenant/client disabled) and the
  request is a `tools/call`, the refusal is audited as `tool_denied` first
  (best effort: the call is refused either way);
- revocation data that cannot be refreshed within MCP_DB_TIMEOUT_SECONDS:
  503 with Retry-After and a JSON-RPC error with the message's id (fail
  closed).
"""

import logging

from audit.models import AuditEvent
from mcpserver.audit_sink import AuditSink
from mcpserver.auth import FeedUnavailable, InvalidToken, Principal, authenticate
from mcpserver.challenges import error_challenge, no_token_challenge
from mcpserver.pipeline.inbound import Inbound, request_id_of
from mcpserver.pipeline.refusal import Refusal, oauth_error, unavailable

logger = logging.getLogger(__name__)


async def authenticate_request(inbound: Inbound, *, audit: AuditSink) -> Principal:
    """Return the request's Principal or raise Refusal (see the module)."""
    token = _bearer_token(inbound)
    if token is None:
        raise Refusal(
            401,
            {"error_description": "This resource needs a bearer token."},
            [("www-authenticate", no_token_challenge())],
        )
    try:
        return await authenticate(token)
    except InvalidToken as refused:
        if refused.claims is not None:
            await _audit_refused_token(inbound, refused, audit)
        raise Refusal(
            401,
            oauth_error("invalid_token", refused.description),
            [("www-authenticate", error_challenge("invalid_token"))],
        ) from None
    except FeedUnavailable:
        logger.warning("Refusing /mcp: the revocation feed is unavailable")
        message = inbound.message
        raise unavailable(
            None if message is None else request_id_of(message),
            "token status cannot be checked",
        ) from None


def _bearer_token(inbound: Inbound) -> str | None:
    """The bearer token of the Authorization header, or None without one."""
    values = inbound.headers.get("authorization", [])
    if len(values) > 1:
        raise Refusal(
            400,
            oauth_error("invalid_request", "More than one Authorization header."),
            [("www-authenticate", error_challenge("invalid_request"))],
        )
    if not values:
        return None
    scheme, _, token = values[0].strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    if not token:
        raise Refusal(
            401,
            oauth_error("invalid_token", "Empty bearer token."),
            [("www-authenticate", error_challenge("invalid_token"))],
        )
    return token


async def _audit_refused_token(
    inbound: Inbound, refused: InvalidToken, audit: AuditSink
) -> None:
    call = inbound.tool_call
    if call is None:
        return
    claims = refused.claims or {}
    try:
        await audit(
            {
                "event": AuditEvent.Event.TOOL_DENIED,
                "outcome": AuditEvent.Outcome.DENIED,
                "tenant_id": int(claims["tenant_id"]),
                "user_id": int(claims["sub"]),
                "client_id": str(claims.get("client_id", "")),
                "tool": call.name,
                "arguments": call.arguments,
                "reason": f"invalid token: {refused.description}",
                "request_id": str(call.request_id),
            }
        )
    except Exception:
        logger.warning("Could not audit a refused token", exc_info=True)

"""Stage 4, decide and audit: the one policy decision for a `tools/call`.

`decide_call` asks mcpserver.policy (DESIGN invariant 1) and, for a
refusal, commits its `tool_denied` audit row and raises the answer, for
the SDK path and the fast path alike:

- a tool the tenant has but the token's scopes do not cover: HTTP 403 with
  an `insufficient_scope` challenge naming every scope the call needs, and
  JSON-RPC -32003 in the body (the same for both protocol generations and
  for JSON and SSE clients, which is why it is answered before dispatch);
- a tool that does not exist or that the tenant does not have: the one
  "Unknown tool" answer, JSON-RPC -32602 (HTTP 200 in the handshake era,
  400 for the 2026-07-28 generation, as the SDK maps that code).

If the policy cannot be read or the refusal cannot be audited, the call
fails (fail closed): HTTP 503 with Retry-After when the database did not
answer within MCP_DB_TIMEOUT_SECONDS, else HTTP 500; -32603 either way. An
allowed call's decision goes on to dispatch, which runs the tool and audits its outcome.
"""

import logging

import mcp_types as types
from mcp.shared.inbound import ERROR_CODE_HTTP_STATUS

from audit.models import AuditEvent
from mcpserver import metrics
from mcpserver.audit_sink import AuditSink
from mcpserver.auth import Principal
from mcpserver.challenges import insufficient_scope_challenge
from mcpserver.db import DatabaseUnavailable
from mcpserver.pipeline.inbound import Inbound, ToolCallMessage
from mcpserver.pipeline.refusal import (
    Refusal,
    internal_error,
    rpc_error,
    unavailable,
)
from mcpserver.policy import Decision, adecide
from mcpserver.tools import ToolCall

logger = logging.getLogger(__name__)

FORBIDDEN = -32003
"""JSON-RPC error code of a call refused for missing scopes (HTTP 403)."""
_MAX_NAME_IN_MESSAGE = 128


def unknown_tool_error(name: str) -> types.ErrorData:
    """The one answer for a tool that does not exist *or* is hidden."""
    return types.ErrorData(
        code=types.INVALID_PARAMS,
        message=f"Unknown tool: {name[:_MAX_NAME_IN_MESSAGE]}",
    )


def insufficient_scope_error(name: str, decision: Decision) -> types.ErrorData:
    """The answer for a tool the tenant has but the token's scopes do not cover."""
    return types.ErrorData(
        code=FORBIDDEN,
        message=(
            f"Insufficient scope: {name} needs "
            f"{' '.join(sorted(decision.required_scopes))}"
        ),
        data={
            "required_scopes": sorted(decision.required_scopes),
            "missing_scopes": sorted(decision.missing_scopes),
        },
    )


async def decide_call(
    principal: Principal,
    message: ToolCallMessage,
    inbound: Inbound,
    *,
    audit: AuditSink,
) -> Decision:
    """Return the decision for an allowed call; audit and raise a refusal."""
    try:
        decision = await adecide(principal, message.name)
    except DatabaseUnavailable:
        metrics.count_tool_call(principal, message.name, metrics.UNAVAILABLE)
        raise unavailable(message.request_id, "the policy cannot be read") from None
    except Exception:
        logger.exception("Reading the tool policy failed")
        metrics.count_tool_call(principal, message.name, metrics.ERROR)
        raise internal_error(message.request_id) from None
    if decision.allowed:
        return decision
    call = ToolCall(
        principal=principal,
        name=message.name,
        arguments=message.arguments,
        request_id=str(message.request_id),
    )
    try:
        await audit(
            call.audit_fields(
                event=AuditEvent.Event.TOOL_DENIED,
                outcome=AuditEvent.Outcome.DENIED,
                reason=decision.audit_reason,
            )
        )
    except DatabaseUnavailable:
        metrics.count_tool_call(principal, message.name, metrics.UNAVAILABLE)
        raise unavailable(message.request_id, "the call cannot be audited") from None
    except Exception:
        logger.exception("Audit write failed; refusing to answer %s", call.name)
        metrics.count_tool_call(principal, message.name, metrics.ERROR)
        raise internal_error(
            message.request_id, "Internal error: the call could not be audited"
        ) from None
    metrics.count_tool_call(principal, message.name, metrics.DENIED)
    if decision.hidden:
        error = unknown_tool_error(call.name)
        status = ERROR_CODE_HTTP_STATUS[error.code] if inbound.is_modern else 200
        raise Refusal(status, rpc_error(message.request_id, error))
    raise Refusal(
        403,
        rpc_error(message.request_id, insufficient_scope_error(call.name, decision)),
        [
            (
                "www-authenticate",
                insufficient_scope_challenge(sorted(decision.required_scopes)),
            )
        ],
    )

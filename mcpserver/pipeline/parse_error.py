"""A message that is not JSON, refused once its caller is known.

`NaN`, `Infinity` and `-Infinity` are not JSON (RFC 8259 §6), though
Python's parser reads them; the guard marks such a message
(`Inbound.non_json`) instead of refusing it at once, so that the refusal
can be audited with the caller's tenant, user and client. It runs after
authentication and admission (an unauthenticated body gets the 401, and
quotas bound the audit rows a client can cause), before the policy
decision and dispatch, for the SDK path and the fast path alike.
"""

import logging
from typing import NoReturn

import mcp_types as types

from audit.models import AuditEvent
from mcpserver.audit_sink import AuditSink
from mcpserver.auth import Principal
from mcpserver.db import DatabaseUnavailable
from mcpserver.pipeline.inbound import Inbound
from mcpserver.pipeline.refusal import Refusal, internal_error, rpc_error, unavailable

logger = logging.getLogger(__name__)

REASON = "parse error: NaN and Infinity are not JSON"


async def refuse_non_json(
    principal: Principal, inbound: Inbound, *, audit: AuditSink
) -> NoReturn:
    """Audit the refusal as `tool_denied`, then raise 400 JSON-RPC -32700.

    The audit row names the tool of a `tools/call` and its arguments with
    the non-JSON constants as null. If the row cannot be committed, the
    answer is 503 (database unavailable) or 500 instead (fail closed).
    The parse error's id is null: the message was not read as JSON-RPC.
    """
    call = inbound.tool_call
    try:
        await audit(
            {
                "event": AuditEvent.Event.TOOL_DENIED,
                "outcome": AuditEvent.Outcome.DENIED,
                "tenant_id": principal.tenant_id,
                "user_id": principal.user_id,
                "client_id": principal.client_id,
                "tool": call.name[:64] if call else "",
                "arguments": dict(call.arguments) if call else {},
                "reason": REASON,
                "request_id": str(call.request_id)[:64] if call else "",
            }
        )
    except DatabaseUnavailable:
        raise unavailable(None, "the request cannot be audited") from None
    except Exception:
        logger.exception("Audit write failed; refusing a non-JSON request")
        raise internal_error(
            None, "Internal error: the request could not be audited"
        ) from None
    raise Refusal(
        400,
        rpc_error(
            None,
            types.ErrorData(
                code=types.PARSE_ERROR,
                message="Parse error: NaN and Infinity are not JSON",
            ),
        ),
    )

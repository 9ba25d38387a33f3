"""From a tool function to the server's `run(call) -> ToolOutcome`.

How a call runs depends on the function:

- `async def`: on the event loop; its audit row is written by the server
  after it returns (for data, an async tool uses `ctx.run_db`);
- sync and `read_only`: on the database thread pool (mcpserver.db.run_db);
  the server writes the audit row after it returns;
- sync and not `read_only`: on the pool, inside one durable transaction
  that also appends its audit row (tenants.tools_services.run_audited), so the
  change and its record commit together, or neither does (STYLE §5).

A `ToolError` becomes an `isError` result the model can read (and rolls a
write back); the server audits it `tool_failed` with its reason. Any other
exception propagates: the server answers JSON-RPC -32603 "Internal error"
and audits the exception's class, never its message.
"""

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import mcp_types as types

from audit.models import AuditEvent
from mcpserver.db import run_db
from mcpserver.tool_context import ToolContext, ToolError
from mcpserver.tool_schema import Arguments, Output
from mcpserver.tool_spec import ToolCall, ToolOutcome, text_result
from tenants import tools_services


def _error_outcome(error: ToolError) -> ToolOutcome:
    return ToolOutcome(
        text_result(error.message, structured=error.structured, is_error=True),
        reason=error.reason,
    )


def adapt(
    fn: Callable[..., Any], *, arguments: Arguments, output: Output, read_only: bool
) -> Callable[[ToolCall], Awaitable[ToolOutcome]]:
    """The `run` of a ToolSpec for tool function `fn`."""
    if inspect.iscoroutinefunction(fn):

        async def run_async(call: ToolCall) -> ToolOutcome:
            ctx = ToolContext(call.principal, call.request_id)
            kwargs = arguments.parse(call.arguments)
            try:
                value = await fn(ctx, **kwargs)
            except ToolError as error:
                return _error_outcome(error)
            return ToolOutcome(output.result(value), reason=ctx.audit_reason)

        return run_async

    if read_only:

        async def run_read(call: ToolCall) -> ToolOutcome:
            ctx = ToolContext(call.principal, call.request_id)
            kwargs = arguments.parse(call.arguments)
            try:
                result = await run_db(lambda: output.result(fn(ctx, **kwargs)))
            except ToolError as error:
                return _error_outcome(error)
            return ToolOutcome(result, reason=ctx.audit_reason)

        return run_read

    def audit_event(
        call: ToolCall, ctx: ToolContext, result: types.CallToolResult
    ) -> dict[str, Any]:
        event, outcome = (
            (AuditEvent.Event.TOOL_FAILED, AuditEvent.Outcome.ERROR)
            if result.is_error
            else (AuditEvent.Event.TOOL_CALLED, AuditEvent.Outcome.OK)
        )
        return call.audit_fields(
            event=event,
            outcome=outcome,
            reason=ctx.audit_reason,
        )

    async def run_write(call: ToolCall) -> ToolOutcome:
        ctx = ToolContext(call.principal, call.request_id)
        kwargs = arguments.parse(call.arguments)
        try:
            result = await run_db(
                tools_services.run_audited,
                lambda: output.result(fn(ctx, **kwargs)),
                audit_event=lambda result: audit_event(call, ctx, result),
            )
        except ToolError as error:
            return _error_outcome(error)
        return ToolOutcome(result, reason=ctx.audit_reason, audited=True)

    return run_write

"""The MCP server: the SDK's low-level Server with our tools/list and tools/call.

The stages before dispatch (mcpserver/pipeline/) have authenticated the
request and, for a `tools/call`, decided it and answered every refusal, so
the handlers here see only an admitted principal (from the request's
scope, mcpserver/pipeline/admitted.py) and, for a call, an allowed
decision. `execute_call`, shared with the fast path, then:

- checks the arguments against the tool's JSON schema: on failure the call
  is audited `tool_failed` and answered -32602 with the reason;
- runs the tool; its result is audited `tool_called` (or `tool_failed` for
  an `isError` result) and then returned; a tool that raises is audited
  `tool_failed` with the exception's class (never its message) and
  answered -32603 "Internal error".

If the audit row cannot be committed the call fails with JSON-RPC -32603 and
no tool result is sent (DESIGN invariant 2); if the database does not answer
within MCP_DB_TIMEOUT_SECONDS, the same, as "Service unavailable". A handler
reached without the stages' state (a mounting mistake) fails closed the same way.
"""

import logging
import time
from typing import Any, NoReturn

import mcp_types as types
from jsonschema.exceptions import best_match
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError

from audit.models import AuditEvent
from mcpserver import metrics
from mcpserver.audit_sink import AuditSink
from mcpserver.auth import Principal
from mcpserver.db import DatabaseUnavailable
from mcpserver.pipeline.admitted import Admitted, admitted_from
from mcpserver.policy import Decision, aget_tool_policy, decide
from mcpserver.tools import TOOLS, ToolArgumentsError, ToolCall

logger = logging.getLogger(__name__)

SERVER_NAME = "mcp-oauth-django"
SERVER_VERSION = "0.1.0"
_MAX_ERROR_MESSAGE = 300
UNAVAILABLE = "Service unavailable: the database did not answer in time; retry later"
"""The SDK path's answer when the database did not answer in time (its
JSON-RPC errors travel with HTTP 200; the fast path answers 503)."""

Event = AuditEvent.Event
Outcome = AuditEvent.Outcome


def _admitted(ctx: ServerRequestContext[Any]) -> Admitted:
    admitted = admitted_from(ctx.request)
    if admitted is None:  # only reachable if the app is mounted without stages
        logger.error("An MCP handler ran without an admitted request")
        raise MCPError(types.INTERNAL_ERROR, "Internal error")
    return admitted


async def _audit(
    audit: AuditSink, call: ToolCall, *, event: str, outcome: str, reason: str
) -> None:
    try:
        await audit(call.audit_fields(event=event, outcome=outcome, reason=reason))
    except DatabaseUnavailable:
        raise
    except Exception:
        logger.exception("Audit write failed; refusing to answer %s", call.name)
        raise MCPError(
            types.INTERNAL_ERROR, "Internal error: the call could not be audited"
        ) from None


async def list_tools(principal: Principal) -> types.ListToolsResult:
    """Exactly the tenant's enabled tools; those the token cannot call say why.

    Each tool's `_meta` has `required_scopes`, and `missing_scopes` when the
    token lacks some of them.
    """
    try:
        policy = await aget_tool_policy(principal.tenant_id)
    except DatabaseUnavailable:
        raise MCPError(types.INTERNAL_ERROR, UNAVAILABLE) from None
    except Exception:
        logger.exception("Reading the tool policy failed")
        raise MCPError(types.INTERNAL_ERROR, "Internal error") from None
    tools = []
    for name in sorted(policy.required_scopes):
        spec = TOOLS.get(name)
        decision = decide(principal, name, policy=policy)
        if spec is None or decision.hidden:
            continue
        meta: dict[str, Any] = {"required_scopes": sorted(decision.required_scopes)}
        if decision.missing_scopes:
            meta["missing_scopes"] = sorted(decision.missing_scopes)
        tools.append(
            types.Tool(
                name=name,
                title=spec.title,
                description=policy.descriptions.get(name) or spec.description,
                input_schema=spec.input_schema,
                output_schema=spec.output_schema,
                annotations=spec.annotations,
                meta=meta,
            )
        )
    return types.ListToolsResult(tools=tools)


async def execute_call(
    call: ToolCall, decision: Decision | None, *, audit: AuditSink
) -> types.CallToolResult:
    """Validate, run and audit one call that decide_call allowed.

    Raises MCPError (the SDK's error answer) for invalid arguments, a tool
    that raised, an audit row that could not be committed, or a missing or
    refusing decision (fail closed: decide_call answers refusals itself);
    DatabaseUnavailable when the tool's query or the audit row did not
    finish within MCP_DB_TIMEOUT_SECONDS (the fast path answers 503).
    Either way the call is counted (mcpserver/metrics.py): ok, error (an
    `isError` result or a raised error) or unavailable, with its duration.
    """
    try:
        result = await _execute(call, decision, audit=audit)
    except DatabaseUnavailable:
        _observe(call, metrics.UNAVAILABLE)
        raise
    except Exception:
        _observe(call, metrics.ERROR)
        raise
    _observe(call, metrics.ERROR if result.is_error else metrics.OK)
    return result


def _observe(call: ToolCall, outcome: str) -> None:
    metrics.count_tool_call(call.principal, call.name, outcome)
    metrics.observe_tool_call(call.name, time.perf_counter() - call.started)


async def _refuse_params(
    audit: AuditSink, call: ToolCall, problem: str, where: str, message: str
) -> NoReturn:
    """Audit `tool_failed` for invalid arguments and raise the -32602 answer."""
    problem = problem[:_MAX_ERROR_MESSAGE]
    await _audit(
        audit,
        call,
        event=Event.TOOL_FAILED,
        outcome=Outcome.ERROR,
        reason=f"invalid params: {problem}",
    )
    raise MCPError(
        types.INVALID_PARAMS,
        f"Invalid params for {call.name}: {problem}",
        data={
            "tool": call.name,
            "path": f"/{where}",
            "reason": message[:_MAX_ERROR_MESSAGE],
        },
    )


async def _execute(
    call: ToolCall, decision: Decision | None, *, audit: AuditSink
) -> types.CallToolResult:
    if decision is None or not decision.allowed or call.name not in TOOLS:
        logger.error("tools/call %s reached dispatch undecided", call.name[:128])
        raise MCPError(types.INTERNAL_ERROR, "Internal error")
    spec = TOOLS[call.name]
    error = best_match(spec.validator.iter_errors(dict(call.arguments)))
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path)
        problem = f"{where}: {error.message}" if where else error.message
        await _refuse_params(audit, call, problem, where, error.message)
    try:
        outcome = await spec.run(call)
    except DatabaseUnavailable:
        raise
    except ToolArgumentsError as exc:
        await _refuse_params(audit, call, str(exc), exc.where, exc.problem)
    except Exception as exc:
        # The class tells an operator what broke; the message may hold data
        # and reaches neither the client nor the audit row.
        logger.exception("Tool %s raised", call.name)
        try:
            await audit(
                call.audit_fields(
                    event=Event.TOOL_FAILED,
                    outcome=Outcome.ERROR,
                    reason=f"internal error: {type(exc).__name__}",
                )
            )
        except Exception:
            logger.exception("Audit write failed for the failed call of %s", call.name)
        raise MCPError(types.INTERNAL_ERROR, "Internal error") from None
    if not outcome.audited:
        failed = outcome.result.is_error
        await _audit(
            audit,
            call,
            event=Event.TOOL_FAILED if failed else Event.TOOL_CALLED,
            outcome=Outcome.ERROR if failed else Outcome.OK,
            reason=outcome.reason,
        )
    return outcome.result


def _no_param_headers(name: str) -> None:
    """Report no input schema for `Mcp-Param-*` header checks, for any name.

    Our tools declare no header-mapped parameters, so there is nothing to
    check; answering the same for every name also keeps this hook (which
    runs before authorization is applied) from telling which tools exist,
    and saves the SDK's extra `tools/list` per 2026-07-28 call.
    """
    return None


def build_server(*, audit: AuditSink) -> Server[Any]:
    """The low-level MCP server with our handlers; transport-agnostic."""

    async def on_list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return await list_tools(_admitted(ctx).principal)

    async def on_call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        admitted = _admitted(ctx)
        call = ToolCall(
            principal=admitted.principal,
            name=params.name,
            arguments=params.arguments or {},
            request_id=str(ctx.request_id),
        )
        decision = admitted.decision if admitted.tool == params.name else None
        try:
            return await execute_call(call, decision, audit=audit)
        except DatabaseUnavailable:
            raise MCPError(types.INTERNAL_ERROR, UNAVAILABLE) from None

    return Server(
        SERVER_NAME,
        version=SERVER_VERSION,
        instructions=(
            "Tools of your tenant. Each tool's _meta.required_scopes names the "
            "OAuth scopes a call needs."
        ),
        get_tool_input_schema=_no_param_headers,
        on_list_tools=on_list_tools,
        on_call_tool=on_call_tool,
    )

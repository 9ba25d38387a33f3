"""The MCP server: the SDK's low-level Server with our tools/list and tools/call.

The ASGI app (mcpserver/asgi.py) authenticates every request and binds a
RequestState (the Principal, and any policy decision it already made before
dispatch) for the handlers here. Both handlers decide through
mcpserver.policy.decide, and every `tools/call` is audited before its answer
leaves (DESIGN invariants 1 and 2):

- hidden or unknown tool: audited `tool_denied`, answered like a tool that
  does not exist (JSON-RPC -32602 "Unknown tool: <name>");
- missing scope: audited `tool_denied`, answered -32003 with the required
  scopes (normally answered earlier, as HTTP 403, by the ASGI app);
- arguments that fail the tool's JSON schema: audited `tool_failed`,
  answered -32602 with the reason;
- otherwise the tool runs; the result is audited `tool_called` (or
  `tool_failed` for an `isError` result) and then returned.

If the audit row cannot be committed the call fails with JSON-RPC -32603 and
no tool result is sent.
"""

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import mcp_types as types
from jsonschema.exceptions import best_match
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError

from audit.models import AuditEvent
from mcpserver import audit_sink
from mcpserver.auth import Principal
from mcpserver.policy import Decision, adecide, aget_tool_policy, decide
from mcpserver.tools import TOOLS, ToolCall

logger = logging.getLogger(__name__)

SERVER_NAME = "mcp-oauth-django"
SERVER_VERSION = "0.1.0"
FORBIDDEN = -32003
"""JSON-RPC error code of a call refused for missing scopes (HTTP 403)."""
_MAX_NAME_IN_MESSAGE = 128
_MAX_ERROR_MESSAGE = 300

Event = AuditEvent.Event
Outcome = AuditEvent.Outcome


@dataclass(frozen=True)
class RequestState:
    """What the ASGI app established for one HTTP request."""

    principal: Principal
    decisions: Mapping[str, Decision] = field(default_factory=dict)


_request_state: ContextVar[RequestState | None] = ContextVar(
    "mcp_request_state", default=None
)


@contextmanager
def bind_request(state: RequestState) -> Iterator[None]:
    """Make `state` the current request's state for the handlers it reaches.

    The SDK runs a request's handler in the context of the task that
    delivered the request (legacy transport) or in that task itself (the
    2026-07-28 path), so a context variable set here reaches it.
    """
    token = _request_state.set(state)
    try:
        yield
    finally:
        _request_state.reset(token)


def _current() -> RequestState:
    state = _request_state.get()
    if state is None:  # only reachable if the app is mounted without auth
        raise MCPError(types.INTERNAL_ERROR, "Internal error")
    return state


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


async def _audit(call: ToolCall, *, event: str, outcome: str, reason: str) -> None:
    try:
        await audit_sink.write_audit(
            call.audit_fields(event=event, outcome=outcome, reason=reason)
        )
    except Exception:
        logger.exception("Audit write failed; refusing to answer %s", call.name)
        raise MCPError(
            types.INTERNAL_ERROR, "Internal error: the call could not be audited"
        ) from None


async def list_tools(
    ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
) -> types.ListToolsResult:
    """Exactly the tenant's enabled tools; those the token cannot call say why.

    Each tool's `_meta` has `required_scopes`, and `missing_scopes` when the
    token lacks some of them.
    """
    principal = _current().principal
    try:
        policy = await aget_tool_policy(principal.tenant_id)
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
                description=policy.descriptions.get(name) or spec.description,
                input_schema=spec.input_schema,
                meta=meta,
            )
        )
    return types.ListToolsResult(tools=tools)


async def call_tool(
    ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
) -> types.CallToolResult:
    """Decide, validate, run and audit one tool call (see the module docstring)."""
    state = _current()
    call = ToolCall(
        principal=state.principal,
        name=params.name,
        arguments=params.arguments or {},
        request_id=str(ctx.request_id),
    )
    decision = state.decisions.get(call.name)
    if decision is None:
        try:
            decision = await adecide(call.principal, call.name)
        except Exception:
            logger.exception("Reading the tool policy failed")
            raise MCPError(types.INTERNAL_ERROR, "Internal error") from None
    if not decision.allowed:
        await _audit(
            call,
            event=Event.TOOL_DENIED,
            outcome=Outcome.DENIED,
            reason=decision.audit_reason,
        )
        if decision.hidden:
            raise MCPError.from_error_data(unknown_tool_error(call.name))
        raise MCPError.from_error_data(insufficient_scope_error(call.name, decision))

    spec = TOOLS[call.name]
    error = best_match(spec.validator.iter_errors(dict(call.arguments)))
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path)
        problem = f"{where}: {error.message}" if where else error.message
        problem = problem[:_MAX_ERROR_MESSAGE]
        await _audit(
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
                "reason": error.message[:_MAX_ERROR_MESSAGE],
            },
        )

    try:
        outcome = await spec.run(call)
    except Exception:
        logger.exception("Tool %s raised", call.name)
        try:
            await audit_sink.write_audit(
                call.audit_fields(
                    event=Event.TOOL_FAILED,
                    outcome=Outcome.ERROR,
                    reason="internal error",
                )
            )
        except Exception:
            logger.exception("Audit write failed for the failed call of %s", call.name)
        raise MCPError(types.INTERNAL_ERROR, "Internal error") from None
    if not outcome.audited:
        failed = outcome.result.is_error
        await _audit(
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


def build_server() -> Server[Any]:
    """The low-level MCP server with our handlers; transport-agnostic."""
    return Server(
        SERVER_NAME,
        version=SERVER_VERSION,
        instructions=(
            "Tools of your tenant. Each tool's _meta.required_scopes names the "
            "OAuth scopes a call needs."
        ),
        get_tool_input_schema=_no_param_headers,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )

"""MCP over Streamable HTTP with a bearer token, through the official SDK client.

`list_and_call` connects once, lists the tools and (optionally) calls one,
turning the server's refusals into the harness's errors:

- JSON-RPC -32602 "Unknown tool" (a tool the tenant does not have) and
  HTTP 403 `insufficient_scope` (-32003) are `Denied`;
- other -32602 errors (arguments that fail the tool's schema) are
  `UsageError`;
- an HTTP 401 is `AuthenticationFailed`; a connection failure `Unreachable`.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from harness.discovery import challenge_params
from harness.errors import (
    AuthenticationFailed,
    Denied,
    HarnessError,
    Unreachable,
    UsageError,
)

Step = Callable[[str], None]
INSUFFICIENT_SCOPE = -32003


@dataclass(frozen=True)
class ToolInfo:
    name: str
    required_scopes: list[str]
    missing_scopes: list[str]


@dataclass(frozen=True)
class CallOutcome:
    tools: list[ToolInfo]
    result: types.CallToolResult | None


def _tool_info(tool: types.Tool) -> ToolInfo:
    meta = tool.meta or {}
    return ToolInfo(
        name=tool.name,
        required_scopes=list(meta.get("required_scopes", [])),
        missing_scopes=list(meta.get("missing_scopes", [])),
    )


class _LastResponse:
    """Remembers the status and challenge of the latest /mcp response."""

    def __init__(self) -> None:
        self.status = 0
        self.challenge: dict[str, str] = {}

    async def __call__(self, response: httpx2.Response) -> None:
        self.status = response.status_code
        self.challenge = challenge_params(response.headers.get("www-authenticate", ""))


def _refusal(error: MCPError, tool: str, last: _LastResponse) -> HarnessError:
    if last.status == 401:
        return AuthenticationFailed(
            f"/mcp refused the token: {last.challenge.get('error', 'invalid_token')}"
        )
    if error.code == INSUFFICIENT_SCOPE or last.status == 403:
        needed = (
            last.challenge.get("scope")
            or " ".join((error.data or {}).get("required_scopes", []))
        ).split()
        return Denied(
            f"insufficient scope: {tool} needs {' '.join(needed)!r}",
            details={"required_scopes": needed},
        )
    if error.code == types.INVALID_PARAMS and error.message.startswith("Unknown tool"):
        return Denied(f"{error.message} (not a tool of this tenant)")
    if error.code == types.INVALID_PARAMS:
        return UsageError(error.message)
    return HarnessError(f"{tool}: JSON-RPC error {error.code}: {error.message}")


def _find(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    """`exc`, or the first `kind` inside it if it is an exception group."""
    if isinstance(exc, kind):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _find(inner, kind)
            if found is not None:
                return found
    return None


async def list_and_call(
    mcp_url: str,
    access_token: str,
    *,
    tool: str | None,
    arguments: dict[str, Any],
    step: Step,
    on_tools: Callable[[list[ToolInfo]], None] = lambda _tools: None,
    http_timeout: float = 30.0,
) -> CallOutcome:
    """List the tools (handed to `on_tools`), then call `tool` if given.

    Raises Denied (with `details["required_scopes"]` for a missing scope),
    UsageError, AuthenticationFailed, Unreachable or HarnessError.
    """
    last = _LastResponse()
    try:
        async with (
            httpx2.AsyncClient(
                headers={"Authorization": f"Bearer {access_token}"},
                timeout=http_timeout,
                event_hooks={"response": [last]},
            ) as http,
            Client(streamable_http_client(mcp_url, http_client=http)) as client,
        ):
            try:
                listing = await client.list_tools()
            except MCPError as exc:
                raise _refusal(exc, "tools/list", last) from None
            tools = [_tool_info(t) for t in listing.tools]
            step(f"MCP tools/list -> {len(tools)} tools")
            on_tools(tools)
            if tool is None:
                return CallOutcome(tools=tools, result=None)
            try:
                result = await client.call_tool(tool, arguments)
            except MCPError as exc:
                raise _refusal(exc, tool, last) from None
            step(
                f"MCP tools/call {tool} -> "
                + ("isError result" if result.is_error else "result")
            )
            return CallOutcome(tools=tools, result=result)
    except Exception as exc:
        # The SDK's task groups may wrap what was raised inside them.
        if (known := _find(exc, HarnessError)) is not None:
            raise known from None
        if (refused := _find(exc, MCPError)) is not None:
            raise _refusal(refused, tool or "initialize", last) from None  # type: ignore[arg-type]
        if (failure := _find(exc, httpx2.TransportError)) is not None:
            raise Unreachable(
                f"{mcp_url}: {failure or type(failure).__name__}"
            ) from None
        raise

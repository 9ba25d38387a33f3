"""What the server knows of one registered tool, and of one call of it.

`ToolSpec` is built by the `@tool` decorator (mcpserver/tool_registry.py);
`run` is the adapter that turns a validated `ToolCall` into a `ToolOutcome`
(mcpserver/tool_adapter.py). The server (mcpserver/server.py) validates the
arguments against `input_schema`, runs the tool and audits the outcome.
"""

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import mcp_types as types
from jsonschema import Draft202012Validator

from mcpserver.auth import Principal


@dataclass(frozen=True)
class ToolCall:
    """One validated `tools/call`: who, which tool, which arguments."""

    principal: Principal
    name: str
    arguments: Mapping[str, Any]
    request_id: str
    started: float = field(default_factory=time.perf_counter)

    def audit_fields(
        self, *, event: str, outcome: str, reason: str = ""
    ) -> dict[str, Any]:
        """The audit event fields for this call, with its duration so far."""
        return {
            "event": event,
            "outcome": outcome,
            "tenant_id": self.principal.tenant_id,
            "user_id": self.principal.user_id,
            "client_id": self.principal.client_id,
            "tool": self.name,
            "arguments": dict(self.arguments),
            "reason": reason,
            "request_id": self.request_id,
            "duration_ms": (time.perf_counter() - self.started) * 1000,
        }


@dataclass(frozen=True)
class ToolOutcome:
    """A tool's result, the reason for the audit row, and whether it audited.

    `audited` is true when the tool's row was recorded in the transaction of
    the change it made (a sync tool that is not read-only).
    """

    result: types.CallToolResult
    reason: str = ""
    audited: bool = False


@dataclass(frozen=True)
class ToolSpec:
    """One registered tool.

    `scopes` are its default required scopes (a tenant's policy may add
    more); `annotations` its MCP tool annotations; `output_schema` the JSON
    schema of its `structuredContent`, or None when it has none; `source`
    the dotted path of the function, for messages.
    """

    name: str
    description: str
    input_schema: dict[str, Any]
    run: Callable[[ToolCall], Awaitable[ToolOutcome]]
    title: str | None = None
    scopes: tuple[str, ...] = ("tools:call",)
    annotations: types.ToolAnnotations | None = None
    output_schema: dict[str, Any] | None = None
    source: str = ""
    validator: Draft202012Validator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        Draft202012Validator.check_schema(self.input_schema)
        object.__setattr__(self, "validator", Draft202012Validator(self.input_schema))


def text_result(
    text: str, *, structured: Any = None, is_error: bool = False
) -> types.CallToolResult:
    """A result with one text content (and `structuredContent` if given)."""
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structured_content=structured,
        is_error=is_error,
    )

"""What the transport guard hands to the later stages: one checked request."""

from dataclasses import dataclass
from typing import Any

from mcp_types.version import MODERN_PROTOCOL_VERSIONS

PROTOCOL_VERSION_HEADER = "mcp-protocol-version"
SESSION_ID_HEADER = "mcp-session-id"


def request_id_of(message: dict[str, Any]) -> str | int | None:
    """The message's JSON-RPC id if it is a usable one (str or int, not bool)."""
    request_id = message.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, str | int):
        return None
    return request_id


@dataclass(frozen=True)
class ToolCallMessage:
    """A well-formed `tools/call` request: its id, tool name and arguments."""

    request_id: str | int
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Inbound:
    """A request that passed the guard.

    `headers` maps lower-case names to every value sent (trimmed). For a
    POST, `body` is the raw body and `message` the one JSON-RPC object it
    holds; both are None for other methods. `non_json` is true when the
    body held NaN or Infinity (read as null in `message`): the request is
    refused as a parse error after authentication, which audits it
    (mcpserver/pipeline/parse_error.py).
    """

    method: str
    headers: dict[str, list[str]]
    body: bytes | None = None
    message: dict[str, Any] | None = None
    non_json: bool = False

    def header(self, name: str) -> str | None:
        """The first value of header `name` (lower case), or None."""
        values = self.headers.get(name)
        return values[0] if values else None

    @property
    def version(self) -> str | None:
        """The MCP-Protocol-Version header (already checked to be served)."""
        return self.header(PROTOCOL_VERSION_HEADER)

    @property
    def is_modern(self) -> bool:
        """Whether the request speaks a per-request (2026-07-28+) revision."""
        return self.version in MODERN_PROTOCOL_VERSIONS

    @property
    def tool_call(self) -> ToolCallMessage | None:
        """The message as a `tools/call`, if it is a well-formed one."""
        message = self.message
        if message is None or message.get("method") != "tools/call":
            return None
        request_id = request_id_of(message)
        if request_id is None:
            return None
        params = message.get("params")
        if not isinstance(params, dict) or not isinstance(params.get("name"), str):
            return None
        arguments = params.get("arguments")
        return ToolCallMessage(
            request_id=request_id,
            name=params["name"],
            arguments=arguments if isinstance(arguments, dict) else {},
        )

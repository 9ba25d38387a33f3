"""An answer decided by a stage before the SDK sees the request.

Every stage refuses by raising `Refusal`; mcpserver/asgi.py sends it. The
payload is an OAuth error object for HTTP-level refusals (RFC 6750) or a
JSON-RPC error response for refusals of a message.
"""

import json
from typing import Any

import mcp_types as types

from mcpserver.asgi_types import Send


class Refusal(Exception):
    """Answer `status` with the JSON `payload` and extra `headers`."""

    def __init__(
        self,
        status: int,
        payload: dict[str, Any],
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(status)
        self.status = status
        self.payload = payload
        self.headers = headers or []


class Disconnected(Exception):
    """The client went away before its request was read; nothing to answer."""


def rpc_error(request_id: Any, error: types.ErrorData) -> dict[str, Any]:
    """A JSON-RPC error response (`id` kept as given, null included)."""
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "error": error.model_dump(mode="json", by_alias=True, exclude_none=True),
    }


def oauth_error(error: str, description: str) -> dict[str, str]:
    """An RFC 6749 / RFC 6750 error object."""
    return {"error": error, "error_description": description}


def internal_error(request_id: Any, message: str = "Internal error") -> Refusal:
    """HTTP 500 with JSON-RPC -32603 (nothing about the cause leaks)."""
    return Refusal(
        500,
        rpc_error(
            request_id, types.ErrorData(code=types.INTERNAL_ERROR, message=message)
        ),
    )


RETRY_AFTER_SECONDS = 1
"""What a 503 asks the client to wait: the database is probed continuously
(the revocation poll), so one second is usually enough after it returns."""


def unavailable(request_id: Any, what: str) -> Refusal:
    """HTTP 503 with Retry-After and JSON-RPC -32603 naming `what` failed.

    For a request that could not be served because the database did not
    answer within MCP_DB_TIMEOUT_SECONDS (mcpserver.db.DatabaseUnavailable);
    `request_id` is the message's id (None without one).
    """
    return Refusal(
        503,
        rpc_error(
            request_id,
            types.ErrorData(
                code=types.INTERNAL_ERROR,
                message=f"Service unavailable: {what}; retry later",
                data={"retry_after": RETRY_AFTER_SECONDS},
            ),
        ),
        [("retry-after", str(RETRY_AFTER_SECONDS))],
    )


async def send_body(
    send: Send, status: int, body: bytes, headers: list[tuple[str, str]]
) -> None:
    """Send a complete `application/json` response."""
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((name.encode("latin-1"), value.encode("latin-1")) for name, value in headers),
    ]
    await send(
        {"type": "http.response.start", "status": status, "headers": raw_headers}
    )
    await send({"type": "http.response.body", "body": body})


async def send_refusal(send: Send, refusal: Refusal) -> None:
    """Send `refusal` as its status, headers and compact JSON body."""
    body = json.dumps(refusal.payload, separators=(",", ":")).encode()
    await send_body(send, refusal.status, body, refusal.headers)

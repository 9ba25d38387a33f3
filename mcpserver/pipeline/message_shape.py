"""The one JSON-RPC message of a /mcp POST body, checked for JSON-RPC 2.0's shape.

Part of the transport guard (mcpserver/pipeline/guard.py), which calls
`parse_message` for every POST: not JSON is 400 -32700, anything but one
object is 400 -32600, and an ill-shaped message is refused as
`_check_envelope` says, all before authentication.
"""

import json
from typing import Any

import mcp_types as types

from mcpserver.pipeline.inbound import request_id_of
from mcpserver.pipeline.refusal import Refusal, rpc_error


def parse_message(body: bytes) -> tuple[dict[str, Any], bool]:
    """The one JSON-RPC object of `body`, and whether it held NaN or Infinity.

    Those constants are read as None; the caller refuses the message.
    """
    non_json: list[str] = []

    def constant(name: str) -> None:
        non_json.append(name)

    try:
        message = json.loads(body, parse_constant=constant)
    except (ValueError, RecursionError):
        raise Refusal(
            400,
            rpc_error(
                None, types.ErrorData(code=types.PARSE_ERROR, message="Parse error")
            ),
        ) from None
    if not isinstance(message, dict):
        raise Refusal(
            400,
            rpc_error(
                None,
                types.ErrorData(
                    code=types.INVALID_REQUEST,
                    message="Body must be one JSON-RPC request or notification",
                ),
            ),
        )
    if not non_json:  # else refused as a parse error, audited, once authenticated
        _check_envelope(message)
    return message, bool(non_json)


def _invalid(request_id: str | int | None, code: int, message: str) -> Refusal:
    return Refusal(
        400, rpc_error(request_id, types.ErrorData(code=code, message=message))
    )


def _check_envelope(message: dict[str, Any]) -> None:
    """JSON-RPC 2.0's shape of the one message, for both MCP generations.

    Left to the SDK, a request whose `id` is not a string or an integer (an
    object, an array, a boolean, a fraction, or null, which MCP forbids) is
    answered 202 with no response in the handshake generation, as if it were
    a notification; and an ill-typed `jsonrpc`, `method` or `params` gets
    -32602 with the validator's text (field dumps, its version, a URL).
    Here each gets -32600 (-32602 for `params`), with the request's id
    where it is usable. Responses to the server's own requests (`result` or
    `error`, no `method`) are the SDK's to judge.
    """
    request_id = request_id_of(message)
    if message.get("jsonrpc") != "2.0":
        raise _invalid(request_id, types.INVALID_REQUEST, 'jsonrpc must be "2.0"')
    if "method" not in message:
        if "result" in message or "error" in message:
            return
        raise _invalid(request_id, types.INVALID_REQUEST, "No method")
    if not isinstance(message["method"], str):
        raise _invalid(request_id, types.INVALID_REQUEST, "method must be a string")
    if "id" in message and request_id is None:
        raise _invalid(None, types.INVALID_REQUEST, "id must be a string or an integer")
    if "params" in message and not isinstance(message["params"], dict):
        raise _invalid(request_id, types.INVALID_PARAMS, "params must be an object")

"""Stateless `tools/call` answered without the SDK's per-request machinery.

In stateless mode the SDK builds, for every POST, a transport, a JSON-RPC
dispatcher, a connection, a task group and four memory streams, and tears
them down again: most of the server's CPU per call (NOTES, "Where the time
goes"). For the one hot request, a well-formed handshake-era `tools/call`
answered as JSON, this module runs the same steps the SDK's request
pipeline runs (mcp.server.runner), in the same order and with the SDK's own
per-version schemas, and nothing else:

1. `mcp_types.methods.validate_client_request` (the per-version surface);
2. `CallToolRequestParams` validation;
3. our `tools/call` handler (mcpserver/server.execute_call: argument
   validation, the tool, audit before answer; the decide stage has already
   answered every refusal);
4. `model_dump(by_alias, exclude_none)` and
   `mcp_types.methods.serialize_server_result` (the per-version sieve);
5. a JSON-RPC response, or the JSON-RPC error the SDK's dispatcher would
   send (HTTP 200 either way, as the SDK's JSON mode does).

Anything else (other methods, sessions, SSE, the 2026-07-28 generation, a
body or header the SDK would refuse) is not `eligible` and goes to the SDK,
which stays the one implementation of everything but this path.
tests/mcpserver/test_fastpath.py holds the two paths to identical answers,
and fails when the installed SDK is not the one (CHECKED_AGAINST) whose
pipeline this module was read against: an upgrade must be re-read here.
"""

import json
import logging
from typing import Any

import mcp_types as types
from mcp.shared.jsonrpc_dispatcher import handler_exception_to_error_data
from mcp_types import methods
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from pydantic import ValidationError

from mcpserver.audit_sink import AuditSink
from mcpserver.db import DatabaseUnavailable
from mcpserver.pipeline.admitted import Admitted
from mcpserver.server import execute_call
from mcpserver.tools import ToolCall

logger = logging.getLogger(__name__)

CHECKED_AGAINST = {"mcp": "2.3.0", "mcp-types": "2.3.0"}
"""The SDK distributions whose request pipeline (mcp.server.runner) this
module reproduces."""

_METHOD = "tools/call"
_MESSAGE_KEYS = frozenset({"jsonrpc", "id", "method", "params"})


def _accepts_json(accept: str | None) -> bool:
    """The SDK's JSON-mode Accept rule (RFC 7231 wildcards included)."""
    kinds = {part.split(";")[0].strip().lower() for part in (accept or "").split(",")}
    return bool(kinds & {"application/json", "application/*", "*/*"})


def _is_json(content_type: str | None) -> bool:
    main = (content_type or "").split(";")[0]
    return any(part.strip() == "application/json" for part in main.split(","))


def eligible(
    message: dict[str, Any],
    *,
    version: str | None,
    accept: str | None,
    content_type: str | None,
) -> bool:
    """Whether `message` (with these headers) is a call this path answers.

    Only a handshake-era (or unversioned) JSON-RPC request for `tools/call`
    with exactly the JSON-RPC members, an int or string id, object params,
    an Accept that allows JSON and a JSON body. The caller is responsible
    for stateless mode.
    """
    if version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS:
        return False
    request_id = message.get("id")
    return (
        message.get("method") == _METHOD
        and message.get("jsonrpc") == "2.0"
        and isinstance(request_id, str | int)
        and not isinstance(request_id, bool)
        and isinstance(message.get("params", {}), dict)
        and message.keys() <= _MESSAGE_KEYS
        and _accepts_json(accept)
        and _is_json(content_type)
    )


def _error_payload(request_id: str | int, exc: Exception) -> dict[str, Any]:
    error = handler_exception_to_error_data(exc)
    if error is None:
        logger.exception("tools/call failed outside the handler's own errors")
        error = types.ErrorData(code=types.INTERNAL_ERROR, message="Internal error")
    return {"jsonrpc": "2.0", "id": request_id, "error": _dump(error)}


async def answer(
    message: dict[str, Any],
    *,
    version: str | None,
    admitted: Admitted,
    audit: AuditSink,
) -> bytes:
    """The JSON-RPC response body for an `eligible` tools/call message.

    `admitted` carries the principal and the decide stage's decision.
    Raises DatabaseUnavailable (no answer yet: dispatch sends the 503).
    """
    negotiated = version or types.DEFAULT_NEGOTIATED_VERSION
    request_id = message["id"]
    params = message.get("params")
    try:
        methods.validate_client_request(_METHOD, negotiated, params)
        typed = types.CallToolRequestParams.model_validate(
            {} if params is None else params, by_name=False
        )
        call = ToolCall(
            principal=admitted.principal,
            name=typed.name,
            arguments=typed.arguments or {},
            request_id=str(request_id),
        )
        decision = admitted.decision if admitted.tool == typed.name else None
        result = await execute_call(call, decision, audit=audit)
    except DatabaseUnavailable:
        raise
    except Exception as exc:
        return _encode(_error_payload(request_id, exc))
    try:
        dumped = methods.serialize_server_result(
            _METHOD,
            negotiated,
            result.model_dump(by_alias=True, mode="json", exclude_none=True),
        )
    except ValidationError:
        # As the SDK: a server bug, detail only in the log.
        logger.exception("tools/call returned an invalid result")
        error = types.ErrorData(
            code=types.INTERNAL_ERROR, message="Handler returned an invalid result"
        )
        return _encode({"jsonrpc": "2.0", "id": request_id, "error": _dump(error)})
    return _encode({"jsonrpc": "2.0", "id": request_id, "result": dumped})


def _dump(error: types.ErrorData) -> dict[str, Any]:
    return error.model_dump(by_alias=True, mode="json", exclude_none=True)


def _encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()

"""Transport hardening and the raw Streamable HTTP behaviour of /mcp."""

import json
from collections.abc import AsyncIterator
from http import HTTPStatus

import httpx2
import pytest

from tests.mcpserver.conftest import (
    ACCEPT,
    LEGACY,
    MODERN,
    Demo,
    call_params,
    http_client,
    post_rpc,
    rpc_headers,
    running_app,
)

pytestmark = pytest.mark.django_db(transaction=True)

LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}


async def _post(token: str, content: bytes | str, **headers: str) -> httpx2.Response:
    async with http_client(token) as client:
        return await client.post(
            "/mcp", content=content, headers={**rpc_headers(), **headers}
        )


@pytest.fixture
async def carol(mcp_app: Demo) -> str:
    return await mcp_app.atoken("carol")


async def test_a_foreign_host_is_refused(carol: str) -> None:
    response = await _post(carol, json.dumps(LIST), Host="evil.example")
    assert response.status_code == HTTPStatus.MISDIRECTED_REQUEST


async def test_an_allowed_host_with_any_port_is_accepted(carol: str) -> None:
    response = await _post(carol, json.dumps(LIST), Host="127.0.0.1:9000")
    assert response.status_code == HTTPStatus.OK


@pytest.mark.parametrize(
    "origin", ["http://evil.example", "null", "http://localhost.evil.example:8000"]
)
async def test_a_foreign_origin_is_forbidden(carol: str, origin: str) -> None:
    response = await _post(carol, json.dumps(LIST), Origin=origin)
    assert response.status_code == HTTPStatus.FORBIDDEN


async def test_our_origin_is_accepted(carol: str, settings) -> None:
    response = await _post(carol, json.dumps(LIST), Origin=settings.PUBLIC_URL)
    assert response.status_code == HTTPStatus.OK


async def test_host_and_origin_are_checked_before_authentication(mcp_app: Demo) -> None:
    response = await _post("", json.dumps(LIST), Origin="http://evil.example")
    assert response.status_code == HTTPStatus.FORBIDDEN


async def test_an_unsupported_protocol_version_is_400(carol: str) -> None:
    response = await _post(
        carol, json.dumps(LIST), **{"MCP-Protocol-Version": "1999-01-01"}
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    error = response.json()["error"]
    assert response.json()["id"] == 1
    assert error["code"] == -32022
    assert error["data"]["requested"] == "1999-01-01"
    assert MODERN in error["data"]["supported"]


async def test_an_unsupported_version_lists_only_what_discover_advertises(
    carol: str,
) -> None:
    discover = await post_rpc(carol, "server/discover", version=MODERN)
    refused = await _post(
        carol, json.dumps(LIST), **{"MCP-Protocol-Version": "2099-01-01"}
    )
    advertised = discover.json()["result"]["supportedVersions"]
    assert refused.json()["error"]["data"]["supported"] == advertised


async def test_a_declared_oversized_body_is_413(demo: Demo, settings) -> None:
    settings.MCP_MAX_BODY_BYTES = 1000  # read when the server starts
    body = json.dumps(call_params("echo", message="x" * 2000))
    async with running_app():
        response = await _post(await demo.atoken("carol"), body)
    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE


async def test_a_streamed_oversized_body_is_413(demo: Demo, settings) -> None:
    settings.MCP_MAX_BODY_BYTES = 1000  # read when the server starts

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 200

    async with running_app(), http_client(await demo.atoken("carol")) as client:
        response = await client.post("/mcp", content=chunks(), headers=rpc_headers())
    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE


async def test_malformed_json_is_a_parse_error(carol: str) -> None:
    response = await _post(carol, b'{"jsonrpc": "2.0", "id": 1,')
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json() == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32700, "message": "Parse error"},
    }


async def test_a_batch_is_an_invalid_request(carol: str) -> None:
    response = await _post(carol, json.dumps([LIST, LIST]))
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"]["code"] == -32600


async def test_a_notification_is_accepted(carol: str) -> None:
    response = await _post(
        carol, json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"})
    )
    assert response.status_code == HTTPStatus.ACCEPTED


async def test_modern_requests_need_matching_routing_headers(carol: str) -> None:
    response = await post_rpc(
        carol, "tools/list", version=MODERN, headers={"Mcp-Method": "tools/call"}
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"]["code"] == -32020


async def test_a_header_mismatch_is_answered_before_the_step_up(mcp_app: Demo) -> None:
    """The SDK's 400 for headers that disagree with the body wins over a 403."""
    bob = await mcp_app.atoken("bob")
    response = await post_rpc(
        bob,
        "tools/call",
        call_params("admin_purge", confirm=True),
        version=MODERN,
        headers={"Mcp-Name": "echo"},
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"]["code"] == -32020


async def test_routing_headers_match_without_surrounding_whitespace(
    carol: str,
) -> None:
    """RFC 9110 §5.5: whitespace around a field value is not part of it."""
    response = await post_rpc(
        carol,
        "tools/call",
        call_params("echo", message="trimmed"),
        version=MODERN,
        headers={"Mcp-Name": "  echo  ", "Mcp-Method": "\ttools/call "},
    )
    assert response.status_code == HTTPStatus.OK, response.text
    assert response.json()["result"]["content"][0]["text"] == "trimmed"


async def test_not_running_is_503(demo: Demo) -> None:
    token = await demo.atoken("carol")
    response = await post_rpc(token, "tools/list")
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE


def _sse_messages(text: str) -> list[dict]:
    return [
        json.loads(line.removeprefix("data:").strip())
        for line in text.splitlines()
        if line.startswith("data:") and line.removeprefix("data:").strip()
    ]


async def test_sessions_mode_speaks_sse_with_a_session(demo: Demo, settings) -> None:
    settings.MCP_SESSIONS = True
    token = await demo.atoken("carol")
    other_user = await demo.atoken("bob")
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": LEGACY,
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"},
        },
    }
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call"}
    call["params"] = call_params("echo", message="via sse")
    async with running_app(), http_client(token) as client:
        opened = await client.post("/mcp", json=init, headers=rpc_headers())
        session = opened.headers["mcp-session-id"]
        without_session = await client.post("/mcp", json=call, headers=rpc_headers())
        answered = await client.post(
            "/mcp", json=call, headers=rpc_headers(**{"Mcp-Session-Id": session})
        )
        async with http_client(other_user) as intruder:
            hijack = await intruder.post(
                "/mcp", json=LIST, headers=rpc_headers(**{"Mcp-Session-Id": session})
            )

    assert opened.status_code == HTTPStatus.OK
    assert opened.headers["content-type"].startswith("text/event-stream")
    assert _sse_messages(opened.text)[-1]["result"]["protocolVersion"] == LEGACY
    assert without_session.status_code == HTTPStatus.BAD_REQUEST
    result = _sse_messages(answered.text)[-1]["result"]
    assert result["content"][0]["text"] == "via sse"
    assert hijack.status_code == HTTPStatus.NOT_FOUND


async def test_stateless_mode_answers_plain_json(carol: str) -> None:
    response = await _post(carol, json.dumps(LIST), Accept=ACCEPT)
    assert response.headers["content-type"] == "application/json"
    assert "mcp-session-id" not in response.headers


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_stateless_mode_serves_only_post(carol: str, method: str) -> None:
    async with http_client(carol) as client:
        response = await client.request(
            method, "/mcp", headers={"Accept": "text/event-stream"}
        )
    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert response.headers["allow"] == "POST"

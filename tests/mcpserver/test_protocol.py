"""Both protocol generations, stateless and with sessions, through the official client.

`mode="auto"` probes with `server/discover` (2026-07-28) the way Claude Code
does; `mode="legacy"` uses the `initialize` handshake (2025-11-25). Each
must end in working `tools/list` and `tools/call`.
"""

from http import HTTPStatus

import httpx2
import pytest
from django.conf import settings
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.mcpserver.conftest import (
    LEGACY,
    MODERN,
    Demo,
    call_params,
    http_client,
    post_rpc,
    running_app,
)

pytestmark = pytest.mark.django_db(transaction=True)

MODES = [("auto", MODERN), ("legacy", LEGACY)]


def _client(token: str, mode: str) -> tuple[httpx2.AsyncClient, Client]:
    http = http_client(token)
    transport = streamable_http_client(f"{settings.PUBLIC_URL}/mcp", http_client=http)
    return http, Client(transport, mode=mode, cache=None)


@pytest.mark.parametrize("sessions", [False, True], ids=["stateless", "sessions"])
@pytest.mark.parametrize(("mode", "negotiated"), MODES, ids=["discover", "initialize"])
async def test_client_lists_and_calls_tools(
    demo: Demo, settings, sessions: bool, mode: str, negotiated: str
) -> None:
    settings.MCP_SESSIONS = sessions
    token = await demo.atoken("alice", ["tools:call"])
    async with running_app():
        http, client = _client(token, mode)
        async with http, client:
            assert client.session.protocol_version == negotiated
            listed = await client.list_tools()
            result = await client.call_tool("echo", {"message": "hello"})
    assert [tool.name for tool in listed.tools] == [
        "admin_purge",
        "echo",
        "search_documents",
    ]
    assert not result.is_error
    assert result.content[0].text == "hello"


@pytest.mark.parametrize(("mode", "negotiated"), MODES, ids=["discover", "initialize"])
async def test_hidden_tool_reads_as_unknown_through_the_client(
    mcp_app: Demo, mode: str, negotiated: str
) -> None:
    token = await mcp_app.atoken("carol")
    http, client = _client(token, mode)
    async with http, client:
        with pytest.raises(MCPError) as hidden:
            await client.call_tool("admin_purge", {"confirm": True})
        with pytest.raises(MCPError) as missing:
            await client.call_tool("no_such_tool", {"confirm": True})
    assert hidden.value.code == missing.value.code == -32602
    assert hidden.value.message == "Unknown tool: admin_purge"
    assert missing.value.message == "Unknown tool: no_such_tool"


async def test_discover_answers_without_a_session(mcp_app: Demo) -> None:
    token = await mcp_app.atoken("alice")
    response = await post_rpc(token, "server/discover", version=MODERN)
    assert response.status_code == HTTPStatus.OK
    result = response.json()["result"]
    assert result["supportedVersions"] == [MODERN]
    assert "tools" in result["capabilities"]


async def test_initialize_then_call_in_stateless_mode(mcp_app: Demo) -> None:
    token = await mcp_app.atoken("bob")
    init = await post_rpc(
        token,
        "initialize",
        {
            "protocolVersion": LEGACY,
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"},
        },
    )
    assert init.status_code == HTTPStatus.OK
    assert init.json()["result"]["protocolVersion"] == LEGACY
    call = await post_rpc(
        token, "tools/call", call_params("echo", message="x"), request_id=2
    )
    assert call.json()["result"]["content"][0]["text"] == "x"

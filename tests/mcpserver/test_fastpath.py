"""The stateless tools/call fast path answers exactly as the SDK path does.

Each request is sent twice, to a server started with MCP_FAST_TOOLS_CALL on
and to one started with it off (the switch is read at start-up), and the
two answers (status, content type, JSON body) and the audit rows they left
must be the same, including for a tool that raises. Requests the fast path
must not take (other methods, other generations, odd bodies) are checked to
reach the SDK.
"""

import json
from dataclasses import replace
from importlib.metadata import version as installed_version
from typing import Any

import pytest

from audit.models import AuditEvent
from mcpserver import fastpath, tools
from mcpserver.db import run_db
from tests.mcpserver.conftest import ACCEPT, LEGACY, Demo, http_client, running_app

pytestmark = pytest.mark.django_db(transaction=True)

VERSIONS = ["2024-11-05", "2025-03-26", "2025-06-18", LEGACY, None]

CASES: dict[str, dict[str, Any]] = {
    "echo": {"name": "echo", "arguments": {"message": "héllo ✓"}},
    "search": {"name": "search_documents", "arguments": {"query": "security"}},
    "unknown tool": {"name": "export_report", "arguments": {"reportId": "r1"}},
    "no such tool": {"name": "nope", "arguments": {}},
    "bad arguments": {"name": "echo", "arguments": {"message": 7}},
    "missing arguments": {"name": "echo"},
    "tool error": {"name": "admin_purge", "arguments": {}},
    "with _meta": {
        "name": "echo",
        "arguments": {"message": "m"},
        "_meta": {"progressToken": "p-1"},
    },
    "bad params": {"name": 12},
}


async def _post(
    token: str, body: Any, version: str | None, request_id: Any = "r-1"
) -> tuple[int, str, Any]:
    headers = {"Accept": ACCEPT, "Content-Type": "application/json"}
    if version is not None:
        headers["MCP-Protocol-Version"] = version
    payload = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call"}
    if body is not None:
        payload["params"] = body
    async with http_client(token) as client:
        reply = await client.post("/mcp", content=json.dumps(payload), headers=headers)
    return reply.status_code, reply.headers["content-type"], reply.json()


async def _audit() -> list[tuple[str, str, str, str, Any]]:
    def rows() -> list[tuple[str, str, str, str, Any]]:
        return [
            (r.event, r.outcome, r.tool, r.reason, r.arguments)
            for r in AuditEvent.objects.filter(tool__gt="").order_by("id")
        ]

    return await run_db(rows)


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: v or "no-header")
@pytest.mark.parametrize("case", list(CASES))
async def test_the_fast_path_answers_as_the_sdk_does(
    demo: Demo, settings, case: str, version: str | None
) -> None:
    token = await demo.atoken("alice", ["tools:call", "admin"])
    answers, audits = [], []
    for fast in (True, False):
        settings.MCP_FAST_TOOLS_CALL = fast
        async with running_app():
            before = len(await _audit())
            answers.append(await _post(token, CASES[case], version))
            audits.append((await _audit())[before:])
    assert answers[0] == answers[1]
    assert audits[0] == audits[1]
    status, content_type, _ = answers[0]
    assert (status, content_type) == (200, "application/json")


async def test_integer_ids_and_absent_params_match(demo: Demo, settings) -> None:
    token = await demo.atoken("alice")
    answers = []
    for fast in (True, False):
        settings.MCP_FAST_TOOLS_CALL = fast
        async with running_app():
            answers.append(
                (
                    await _post(token, CASES["echo"], LEGACY, request_id=7),
                    await _post(token, None, LEGACY, request_id=8),
                )
            )
    assert answers[0] == answers[1]
    assert answers[0][0][2]["id"] == 7


@pytest.mark.parametrize("version", [LEGACY, None], ids=lambda v: v or "no-header")
async def test_a_tool_that_raises_is_answered_as_the_sdk_does(
    demo: Demo, settings, monkeypatch: pytest.MonkeyPatch, version: str | None
) -> None:
    async def raises(call: tools.ToolCall) -> tools.ToolOutcome:
        raise RuntimeError("secret detail of a broken tool")

    monkeypatch.setitem(tools.TOOLS, "echo", replace(tools.TOOLS["echo"], run=raises))
    token = await demo.atoken("alice")
    answers, audits = [], []
    for fast in (True, False):
        settings.MCP_FAST_TOOLS_CALL = fast
        async with running_app():
            before = len(await _audit())
            answers.append(await _post(token, CASES["echo"], version))
            audits.append((await _audit())[before:])
    assert answers[0] == answers[1]
    assert audits[0] == audits[1]
    status, _, body = answers[0]
    assert status == 200
    assert body["error"] == {"code": -32603, "message": "Internal error"}
    assert [row[:4] for row in audits[0]] == [
        ("tool_failed", "error", "echo", "internal error: RuntimeError")
    ]
    assert "secret" not in str(audits[0])


@pytest.mark.parametrize("distribution", sorted(fastpath.CHECKED_AGAINST))
def test_the_installed_sdk_is_the_one_the_fast_path_was_read_against(
    distribution: str,
) -> None:
    """An SDK upgrade fails here until fastpath.py is re-read against it."""
    assert installed_version(distribution) == fastpath.CHECKED_AGAINST[distribution]


@pytest.mark.parametrize(
    ("message", "headers"),
    [
        ({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, {}),
        ({"jsonrpc": "2.0", "method": "tools/call", "params": {}}, {}),
        ({"jsonrpc": "2.0", "id": True, "method": "tools/call"}, {}),
        ({"jsonrpc": "1.0", "id": 1, "method": "tools/call"}, {}),
        ({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "extra": 1}, {}),
        ({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": []}, {}),
        (
            {"jsonrpc": "2.0", "id": 1, "method": "tools/call"},
            {"version": "2026-07-28"},
        ),
        ({"jsonrpc": "2.0", "id": 1, "method": "tools/call"}, {"accept": "text/html"}),
        ({"jsonrpc": "2.0", "id": 1, "method": "tools/call"}, {"type": "text/plain"}),
    ],
)
def test_anything_but_a_plain_handshake_era_call_goes_to_the_sdk(
    message: dict[str, Any], headers: dict[str, str]
) -> None:
    assert not fastpath.eligible(
        message,
        version=headers.get("version", LEGACY),
        accept=headers.get("accept", ACCEPT),
        content_type=headers.get("type", "application/json"),
    )


def test_a_plain_call_with_wildcard_accept_is_eligible() -> None:
    message = {"jsonrpc": "2.0", "id": "x", "method": "tools/call", "params": {}}
    assert fastpath.eligible(
        message,
        version=None,
        accept="*/*",
        content_type="application/json; charset=utf-8",
    )

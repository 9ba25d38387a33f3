"""The tools, tenant policy, step-up and the audit trail of every call."""

import json
from http import HTTPStatus
from typing import Any

import httpx2
import pytest
from django.conf import settings
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from audit import writer
from audit.models import AuditEvent
from config.asgi import application
from mcpserver.db import run_db
from tenants import tools_services
from tenants.models import Document, Report, TenantTool, Tool
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

RESOURCE_METADATA = f"{settings.PUBLIC_URL}/.well-known/oauth-protected-resource/mcp"


async def _audit_rows(**filters: Any) -> list[dict[str, Any]]:
    def rows() -> list[dict[str, Any]]:
        return list(
            AuditEvent.objects.filter(**filters)
            .order_by("id")
            .values(
                "event",
                "outcome",
                "tenant__slug",
                "user__username",
                "client_id",
                "tool",
                "arguments",
                "reason",
                "request_id",
                "duration_ms",
            )
        )

    return await run_db(rows)


async def _tools(token: str, version: str = LEGACY) -> dict[str, dict[str, Any]]:
    response = await post_rpc(token, "tools/list", version=version)
    assert response.status_code == HTTPStatus.OK, response.text
    return {tool["name"]: tool for tool in response.json()["result"]["tools"]}


async def _call(
    token: str, name: str, version: str = LEGACY, request_id: Any = 7, **arguments: Any
) -> dict[str, Any]:
    response = await post_rpc(
        token,
        "tools/call",
        call_params(name, **arguments),
        version=version,
        request_id=request_id,
    )
    return response.json()


@pytest.mark.parametrize("version", [LEGACY, MODERN])
async def test_tool_lists_match_the_seeded_policy(mcp_app: Demo, version: str) -> None:
    alice = await mcp_app.atoken("alice", ["tools:call", "admin"])
    bob = await mcp_app.atoken("bob")
    carol = await mcp_app.atoken("carol")

    assert set(await _tools(alice, version)) == {
        "echo",
        "search_documents",
        "admin_purge",
    }
    assert set(await _tools(carol, version)) == {
        "echo",
        "search_documents",
        "export_report",
    }
    bob_tools = await _tools(bob, version)
    assert set(bob_tools) == {"echo", "search_documents", "admin_purge"}
    assert bob_tools["admin_purge"]["_meta"] == {
        "required_scopes": ["admin", "tools:call"],
        "missing_scopes": ["admin"],
    }
    assert bob_tools["echo"]["_meta"] == {"required_scopes": ["tools:call"]}
    assert bob_tools["echo"]["inputSchema"]["required"] == ["message"]


async def test_a_disabled_tool_leaves_the_list(mcp_app: Demo, settings) -> None:
    settings.MCP_POLICY_CACHE_SECONDS = 0
    token = await mcp_app.atoken("carol")
    await run_db(
        lambda: TenantTool.objects.filter(
            tenant__slug="tenant-b", tool__name="export_report"
        ).update(enabled=False)
    )
    assert set(await _tools(token)) == {"echo", "search_documents"}
    reply = await _call(token, "export_report", reportId="r1")
    assert reply["error"]["message"] == "Unknown tool: export_report"


async def test_tenant_extra_scopes_are_required(mcp_app: Demo) -> None:
    await run_db(
        lambda: TenantTool.objects.filter(
            tenant__slug="tenant-b", tool__name="echo"
        ).update(extra_scopes="admin")
    )
    token = await mcp_app.atoken("carol")
    tools = await _tools(token)
    assert tools["echo"]["_meta"]["missing_scopes"] == ["admin"]


@pytest.mark.parametrize(
    ("username", "tool", "arguments"),
    [
        ("carol", "admin_purge", {"confirm": True}),
        ("alice", "export_report", {"reportId": "r1"}),
    ],
)
@pytest.mark.parametrize("version", [LEGACY, MODERN])
async def test_a_tool_the_tenant_lacks_reads_as_unknown_and_is_audited(
    mcp_app: Demo, username: str, tool: str, arguments: dict, version: str
) -> None:
    # Every scope the user's role entitles (carol is a member: no admin; a
    # token claiming more is refused at /mcp, tests/security/).
    scopes = ["tools:call", "admin"] if username == "alice" else ["tools:call"]
    token = await mcp_app.atoken(username, scopes)
    hidden = await post_rpc(
        token, "tools/call", call_params(tool, **arguments), version=version
    )
    missing = await post_rpc(
        token, "tools/call", call_params("nope", **arguments), version=version
    )

    assert hidden.status_code == missing.status_code
    assert hidden.headers.get("www-authenticate") is None
    assert hidden.json()["error"] == {
        "code": -32602,
        "message": f"Unknown tool: {tool}",
    }
    assert missing.json()["error"]["message"] == "Unknown tool: nope"
    rows = await _audit_rows(event="tool_denied")
    assert [(row["tool"], row["reason"]) for row in rows] == [
        (tool, "tool_not_enabled"),
        ("nope", "unknown_tool"),
    ]
    assert rows[0]["user__username"] == username
    assert rows[0]["outcome"] == "denied"
    assert rows[0]["arguments"] == arguments


@pytest.mark.parametrize("version", [LEGACY, MODERN])
async def test_bob_gets_the_step_up_challenge(mcp_app: Demo, version: str) -> None:
    token = await mcp_app.atoken("bob")
    response = await post_rpc(
        token,
        "tools/call",
        call_params("admin_purge", confirm=True),
        version=version,
        request_id="step-up-1",
    )

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.headers["www-authenticate"] == (
        'Bearer error="insufficient_scope", scope="admin tools:call", '
        f'resource_metadata="{RESOURCE_METADATA}"'
    )
    body = response.json()
    assert body["id"] == "step-up-1"
    assert body["error"]["code"] == -32003
    assert body["error"]["data"]["required_scopes"] == ["admin", "tools:call"]
    rows = await _audit_rows(event="tool_denied")
    assert len(rows) == 1
    assert rows[0]["reason"] == "missing_scope: needs admin"
    assert rows[0]["request_id"] == "step-up-1"
    assert await run_db(Document.objects.filter(tenant__slug="tenant-a").count) == 3


@pytest.mark.parametrize("sessions", [False, True], ids=["stateless", "sessions"])
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_step_up_reaches_the_official_client(
    demo: Demo, settings, sessions: bool, mode: str
) -> None:
    settings.MCP_SESSIONS = sessions
    token = await demo.atoken("bob")
    async with running_app():
        http = http_client(token)
        url = f"{settings.PUBLIC_URL}/mcp"
        async with (
            http,
            Client(streamable_http_client(url, http_client=http), mode=mode) as client,
        ):
            with pytest.raises(MCPError) as refused:
                await client.call_tool("admin_purge", {"confirm": True})
            still_works = await client.call_tool("echo", {"message": "ok"})
    assert refused.value.code == -32003
    assert refused.value.data["required_scopes"] == ["admin", "tools:call"]
    assert still_works.content[0].text == "ok"


@pytest.mark.parametrize("version", [LEGACY, MODERN])
async def test_alice_with_admin_purges_her_tenant_only(
    mcp_app: Demo, version: str
) -> None:
    token = await mcp_app.atoken("alice", ["tools:call", "admin"])
    reply = await _call(token, "admin_purge", version=version, confirm=True)

    assert reply["result"]["structuredContent"] == {"deleted": 3}
    assert reply["result"]["isError"] is False
    assert await run_db(Document.objects.filter(tenant__slug="tenant-a").count) == 0
    assert await run_db(Document.objects.filter(tenant__slug="tenant-b").count) == 3
    rows = await _audit_rows(tool="admin_purge")
    assert len(rows) == 1
    assert rows[0]["event"] == "tool_called"
    assert rows[0]["reason"] == "deleted 3 documents"
    assert rows[0]["duration_ms"] is not None


async def test_purge_without_confirm_changes_nothing(mcp_app: Demo) -> None:
    token = await mcp_app.atoken("alice", ["tools:call", "admin"])
    reply = await _call(token, "admin_purge")

    assert reply["result"]["isError"] is True
    assert "confirm: true" in reply["result"]["content"][0]["text"]
    assert await run_db(Document.objects.filter(tenant__slug="tenant-a").count) == 3
    rows = await _audit_rows(tool="admin_purge")
    assert [(row["event"], row["outcome"]) for row in rows] == [
        ("tool_failed", "error")
    ]


async def test_echo_returns_the_message_and_audits_it(mcp_app: Demo) -> None:
    token = await mcp_app.atoken("carol")
    reply = await _call(token, "echo", request_id=41, message="héllo")

    assert reply["id"] == 41
    assert reply["result"]["content"] == [{"type": "text", "text": "héllo"}]
    rows = await _audit_rows(tool="echo")
    assert len(rows) == 1
    row = rows[0]
    assert (
        row["event"],
        row["outcome"],
        row["tenant__slug"],
        row["user__username"],
    ) == (
        "tool_called",
        "ok",
        "tenant-b",
        "carol",
    )
    assert row["client_id"] == mcp_app.client_id
    assert row["arguments"] == {"message": "héllo"}
    assert row["request_id"] == "41"


async def test_audit_arguments_are_capped(mcp_app: Demo, settings) -> None:
    settings.AUDIT_ARGUMENTS_MAX_BYTES = 100
    token = await mcp_app.atoken("carol")
    await _call(token, "echo", message="x" * 5000)
    (row,) = await _audit_rows(tool="echo")
    assert row["arguments"]["_truncated"] is True


async def test_search_finds_the_tenants_documents_best_first(mcp_app: Demo) -> None:
    token = await mcp_app.atoken("alice")
    onboarding = await _call(token, "search_documents", query="Onboarding")
    security = await _call(token, "search_documents", query="security", limit=5)
    nothing = await _call(token, "search_documents", query="pricing")

    titles = [
        hit["title"] for hit in onboarding["result"]["structuredContent"]["results"]
    ]
    assert titles == ["Onboarding guide", "Quarterly plan"]
    hits = security["result"]["structuredContent"]["results"]
    assert [hit["title"] for hit in hits] == ["Security policy"]  # not tenant-b's
    assert set(hits[0]) == {"id", "title", "snippet"}
    assert "security" in hits[0]["snippet"].lower()
    assert nothing["result"]["structuredContent"] == {"results": []}
    assert json.loads(security["result"]["content"][0]["text"]) == {"results": hits}


async def test_search_limit(mcp_app: Demo) -> None:
    token = await mcp_app.atoken("carol")
    reply = await _call(token, "search_documents", query="s e a", limit=1)
    assert len(reply["result"]["structuredContent"]["results"]) == 1


async def test_export_report_json_and_csv(mcp_app: Demo) -> None:
    token = await mcp_app.atoken("carol")
    as_json = await _call(token, "export_report", reportId="r1")
    as_csv = await _call(token, "export_report", reportId="r2", format="csv")

    report = as_json["result"]["structuredContent"]
    assert report["id"] == "r1"
    assert report["rows"][0] == {"month": "2026-08", "revenue": 12000}
    assert as_csv["result"]["content"][0]["text"] == (
        "closed,open,priority\n41,3,high\n230,12,low\n"
    )


async def test_unknown_report_is_a_tool_error_never_another_tenants(
    mcp_app: Demo,
) -> None:
    def give_tenant_a_reports() -> None:
        TenantTool.objects.create(
            tenant=mcp_app.tenants["tenant-a"],
            tool=Tool.objects.get(name="export_report"),
        )
        Report.objects.create(
            tenant=mcp_app.tenants["tenant-a"], report_id="a1", title="A", rows=[]
        )

    await run_db(give_tenant_a_reports)
    alice = await mcp_app.atoken("alice")
    carol = await mcp_app.atoken("carol")

    cross = await _call(alice, "export_report", reportId="r1")  # tenant-b's id
    unknown = await _call(carol, "export_report", reportId="r9")
    cross_back = await _call(carol, "export_report", reportId="a1")

    assert cross["result"]["isError"] is True
    assert cross["result"]["content"][0]["text"] == "no such report: r1"
    assert unknown["result"]["content"][0]["text"] == "no such report: r9"
    assert cross_back["result"]["isError"] is True
    rows = await _audit_rows(tool="export_report")
    assert {(row["event"], row["reason"]) for row in rows} == {
        ("tool_failed", "no such report")
    }


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        ("echo", {}, "Invalid params for echo: 'message' is a required property"),
        ("echo", {"message": 3}, "Invalid params for echo: message: 3 is not of type"),
        ("echo", {"message": "x", "extra": 1}, "Invalid params for echo: Additional"),
        ("search_documents", {"query": "x", "limit": 0}, "limit: 0 is less than"),
        ("export_report", {"reportId": "r1", "format": "xml"}, "format: 'xml' is not"),
        ("admin_purge", {"confirm": "yes"}, "confirm: 'yes' is not of type"),
    ],
)
@pytest.mark.parametrize("version", [LEGACY, MODERN])
async def test_bad_arguments_are_invalid_params_and_audited(
    mcp_app: Demo, tool: str, arguments: dict, message: str, version: str
) -> None:
    token = await mcp_app.atoken(
        *(("alice", ["tools:call", "admin"]) if tool == "admin_purge" else ("carol",))
    )
    response = await post_rpc(
        token, "tools/call", call_params(tool, **arguments), version=version
    )

    error = response.json()["error"]
    assert error["code"] == -32602
    assert message in error["message"]
    assert response.status_code == (
        HTTPStatus.BAD_REQUEST if version == MODERN else HTTPStatus.OK
    )
    rows = await _audit_rows(tool=tool)
    assert [(row["event"], row["outcome"]) for row in rows] == [
        ("tool_failed", "error")
    ]
    assert rows[0]["reason"].startswith("invalid params: ")


async def test_an_audit_row_is_committed_before_the_answer_starts(
    mcp_app: Demo,
) -> None:
    token = await mcp_app.atoken("bob")
    seen_at_start: list[list[str]] = []

    async def watching_app(scope: dict, receive: Any, send: Any) -> None:
        async def watch(message: dict) -> None:
            if message["type"] == "http.response.start":
                seen_at_start.append(
                    await run_db(
                        lambda: list(
                            AuditEvent.objects.values_list("request_id", flat=True)
                        )
                    )
                )
            await send(message)

        await application(scope, receive, watch)

    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=watching_app),
        base_url=settings.PUBLIC_URL,
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        for request_id, name in [("ok-1", "echo"), ("deny-1", "admin_purge")]:
            await client.post(
                "/mcp",
                json={
                    "jsonrpc": "2.0",
                    "id": request_id,
                    "method": "tools/call",
                    "params": {"name": name, "arguments": {"message": "m"}},
                },
                headers={"Accept": "application/json", "MCP-Protocol-Version": LEGACY},
            )
    assert "ok-1" in seen_at_start[0]
    assert "deny-1" in seen_at_start[1]


@pytest.mark.parametrize("version", [LEGACY, MODERN])
async def test_a_failed_audit_write_fails_the_call(
    mcp_app: Demo, monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    async def broken(event_fields: Any) -> None:
        raise RuntimeError("audit database is gone")

    monkeypatch.setattr(writer, "write", broken)
    bob = await mcp_app.atoken("bob")

    reply = await post_rpc(
        bob, "tools/call", call_params("echo", message="secret"), version=version
    )
    denied = await post_rpc(
        bob, "tools/call", call_params("admin_purge", confirm=True), version=version
    )

    body = reply.json()
    assert "result" not in body
    assert body["error"]["code"] == -32603
    assert "secret" not in reply.text
    assert denied.json()["error"]["code"] == -32603


async def test_a_failed_purge_audit_deletes_nothing(
    mcp_app: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**fields: Any) -> None:
        raise RuntimeError("audit database is gone")

    monkeypatch.setattr(tools_services, "record_event", broken)
    token = await mcp_app.atoken("alice", ["tools:call", "admin"])
    reply = await _call(token, "admin_purge", confirm=True)

    assert "result" not in reply
    assert reply["error"]["code"] == -32603
    assert await run_db(Document.objects.filter(tenant__slug="tenant-a").count) == 3

"""An adopter's tools (tests/tools_app) served through the public tool API.

The app is installed only by tests/settings.py and registers its tools with
`@tool` exactly as README "Add your own tool" shows; these tests call them
over /mcp with tokens of the demo users, as a client would.
"""

import json
from decimal import Decimal
from http import HTTPStatus
from typing import Annotated, Any

import pytest
from django.core.management import call_command
from pydantic import AfterValidator

from audit.models import AuditEvent
from mcpserver.db import run_db
from mcpserver.tool_catalogue import sync_tools
from mcpserver.tools import TOOLS, ToolContext, build_spec
from tenants import tools_services
from tenants.models import Tenant, TenantTool, Tool
from tests.mcpserver.conftest import (
    LEGACY,
    MODERN,
    Demo,
    call_params,
    post_rpc,
)
from tests.tools_app.models import Customer, Invoice

pytestmark = pytest.mark.django_db(transaction=True)

APP_TOOLS = ["count_invoices", "explode", "find_invoices", "mark_paid"]


def _enable(slug: str, *names: str) -> None:
    tenant = Tenant.objects.get(slug=slug)
    for name in names:
        TenantTool.objects.update_or_create(
            tenant=tenant, tool=Tool.objects.get(name=name), defaults={"enabled": True}
        )


def _invoices(demo: Demo) -> None:
    """ACME in both tenants: two invoices in tenant-a, one in tenant-b."""
    for slug, numbers in {"tenant-a": ["A-1", "A-2"], "tenant-b": ["B-1"]}.items():
        tenant = demo.tenants[slug]
        acme = Customer.objects.create(tenant=tenant, name="ACME")
        for number in numbers:
            Invoice.objects.create(
                tenant=tenant, customer=acme, number=number, amount=Decimal("12.50")
            )


@pytest.fixture
async def app_tools(mcp_app: Demo, settings) -> Demo:
    """The demo, the app's tools in the catalogue, enabled for tenant-a only."""
    settings.MCP_POLICY_CACHE_SECONDS = 0

    def prepare() -> None:
        sync_tools()
        _enable("tenant-a", *APP_TOOLS)
        _invoices(mcp_app)

    await run_db(prepare)
    return mcp_app


async def _call(token: str, name: str, version: str = LEGACY, **arguments: Any):
    return await post_rpc(
        token, "tools/call", call_params(name, **arguments), version=version
    )


async def _audit(tool: str) -> list[tuple[str, str, str]]:
    return await run_db(
        lambda: list(
            AuditEvent.objects.filter(tool=tool)
            .order_by("id")
            .values_list("event", "outcome", "reason")
        )
    )


@pytest.mark.parametrize("version", [LEGACY, MODERN])
async def test_the_tool_is_listed_where_enabled_with_its_schemas(
    app_tools: Demo, version: str
) -> None:
    alice = await app_tools.atoken("alice")
    carol = await app_tools.atoken("carol")

    listed = await post_rpc(alice, "tools/list", version=version)
    elsewhere = await post_rpc(carol, "tools/list", version=version)

    tools = {tool["name"]: tool for tool in listed.json()["result"]["tools"]}
    assert set(APP_TOOLS) <= set(tools)
    assert not set(APP_TOOLS) & {
        tool["name"] for tool in elsewhere.json()["result"]["tools"]
    }
    find = tools["find_invoices"]
    assert find["title"] == "Find invoices"
    assert find["description"] == (
        "Find the tenant's invoices for a customer, newest first."
    )
    assert find["annotations"] == {"readOnlyHint": True}
    assert find["inputSchema"] == {
        "type": "object",
        "properties": {
            "customer": {"type": "string"},
            "limit": {"type": "integer", "default": 10},
        },
        "required": ["customer"],
        "additionalProperties": False,
    }
    invoice = find["outputSchema"]["$defs"]["InvoiceOut"]
    assert find["outputSchema"]["properties"]["result"] == {
        "type": "array",
        "items": {"$ref": "#/$defs/InvoiceOut"},
    }
    assert find["outputSchema"]["required"] == ["result"]
    assert set(invoice["properties"]) == {"number", "customer", "amount", "paid"}
    assert tools["mark_paid"]["annotations"] == {"idempotentHint": True}
    assert "outputSchema" not in tools["explode"]  # a str is text


@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "sdk"])
async def test_a_call_returns_the_callers_rows_only(
    app_tools: Demo, settings, fast: bool
) -> None:
    settings.MCP_FAST_TOOLS_CALL = fast
    alice = await app_tools.atoken("alice")

    reply = (await _call(alice, "find_invoices", customer="ACME")).json()["result"]

    expected = [
        {"number": number, "customer": "ACME", "amount": "12.50", "paid": False}
        for number in ("A-2", "A-1")
    ]
    assert reply["structuredContent"] == {"result": expected}
    assert json.loads(reply["content"][0]["text"]) == {"result": expected}
    assert await _audit("find_invoices") == [("tool_called", "ok", "")]


async def test_arguments_are_checked_against_the_signature(app_tools: Demo) -> None:
    alice = await app_tools.atoken("alice")

    wrong = (await _call(alice, "find_invoices", customer="ACME", limit="ten")).json()
    extra = (await _call(alice, "find_invoices", customer="ACME", sort="x")).json()

    assert wrong["error"]["code"] == -32602
    assert wrong["error"]["data"]["path"] == "/limit"
    assert extra["error"]["code"] == -32602
    assert [row[0] for row in await _audit("find_invoices")] == [
        "tool_failed",
        "tool_failed",
    ]


async def test_a_select_related_row_of_another_tenant_is_never_returned(
    app_tools: Demo,
) -> None:
    def corrupt() -> None:
        # An invoice of tenant-a that points at tenant-b's customer: the
        # join must not carry tenant-b's row into tenant-a's answer.
        foreign = Customer.objects.get(tenant__slug="tenant-b")
        Invoice.objects.create(
            tenant=app_tools.tenants["tenant-a"],
            customer=foreign,
            number="A-9",
            amount=Decimal(1),
        )

    await run_db(corrupt)
    alice = await app_tools.atoken("alice")

    reply = (await _call(alice, "find_invoices", customer="ACME")).json()["result"]

    assert [row["number"] for row in reply["structuredContent"]["result"]] == [
        "A-2",
        "A-1",
    ]


async def test_a_missing_scope_gets_the_step_up_answer_and_is_audited(
    app_tools: Demo,
) -> None:
    bob = await app_tools.atoken("bob")  # a member: no `admin` scope

    response = await _call(bob, "mark_paid", number="A-1")

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert 'scope="admin tools:call"' in response.headers["www-authenticate"]
    assert await _audit("mark_paid") == [
        ("tool_denied", "denied", "missing_scope: needs admin")
    ]


async def test_a_write_tool_commits_its_change_with_its_audit_row(
    app_tools: Demo,
) -> None:
    alice = await app_tools.atoken("alice", ["tools:call", "admin"])

    paid = (await _call(alice, "mark_paid", number="A-1")).json()["result"]
    missing = (await _call(alice, "mark_paid", number="B-1")).json()["result"]

    assert paid["structuredContent"]["paid"] is True
    assert missing["isError"] is True
    assert missing["content"][0]["text"] == "no such invoice: B-1"
    assert await _audit("mark_paid") == [
        ("tool_called", "ok", "invoice A-1 paid"),
        ("tool_failed", "error", "no such invoice"),
    ]
    assert await run_db(
        lambda: list(Invoice.objects.filter(paid=True).values_list("number", flat=True))
    ) == ["A-1"]


async def test_a_write_whose_audit_row_fails_changes_nothing(
    app_tools: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**fields: Any) -> None:
        raise RuntimeError("audit database is gone")

    monkeypatch.setattr(tools_services, "record_event", broken)
    alice = await app_tools.atoken("alice", ["tools:call", "admin"])

    reply = (await _call(alice, "mark_paid", number="A-1")).json()

    assert reply["error"] == {"code": -32603, "message": "Internal error"}
    assert not await run_db(Invoice.objects.filter(paid=True).exists)


async def test_an_async_tool_runs_and_its_number_is_wrapped(app_tools: Demo) -> None:
    alice = await app_tools.atoken("alice")

    reply = (await _call(alice, "count_invoices")).json()["result"]

    assert reply["structuredContent"] == {"result": 2}


@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "sdk"])
async def test_a_raising_tool_leaks_nothing(app_tools: Demo, settings, fast) -> None:
    settings.MCP_FAST_TOOLS_CALL = fast
    alice = await app_tools.atoken("alice")

    response = await _call(alice, "explode", secret="hunter2")

    assert response.json()["error"] == {"code": -32603, "message": "Internal error"}
    assert "hunter2" not in response.text
    assert await _audit("explode") == [
        ("tool_failed", "error", "internal error: ValueError")
    ]


async def test_sync_tools_follows_the_code_and_never_deletes(app_tools: Demo) -> None:
    def gone_tool() -> None:
        tool = Tool.objects.create(name="retired_report", required_scopes="tools:call")
        TenantTool.objects.create(tenant=app_tools.tenants["tenant-a"], tool=tool)
        Tool.objects.filter(name="find_invoices").update(required_scopes="x")

    await run_db(gone_tool)

    changes = await run_db(sync_tools)
    again = await run_db(sync_tools)

    assert changes == [
        "updated find_invoices: required_scopes",
        "unavailable retired_report (no registered code)",
    ]
    assert again == []
    retired = await run_db(Tool.objects.get, name="retired_report")
    assert retired.available is False
    assert await run_db(TenantTool.objects.filter(tool=retired).exists)
    alice = await app_tools.atoken("alice")
    listed = (await post_rpc(alice, "tools/list")).json()["result"]["tools"]
    assert "retired_report" not in {tool["name"] for tool in listed}
    call = (await _call(alice, "retired_report")).json()
    assert call["error"]["message"] == "Unknown tool: retired_report"


def test_migrate_puts_the_registered_tools_in_the_catalogue(settings) -> None:
    settings.MCP_SYNC_TOOLS_ON_MIGRATE = True
    Tool.objects.all().delete()

    call_command("migrate", verbosity=0)

    rows = dict(Tool.objects.values_list("name", "required_scopes"))
    assert rows == {name: " ".join(spec.scopes) for name, spec in TOOLS.items()}
    assert rows["admin_purge"] == "tools:call admin"
    catalogued = Tool.objects.get(name="find_invoices")
    assert catalogued.title == "Find invoices"
    assert catalogued.annotations == {"readOnlyHint": True}
    assert catalogued.source == "tests.tools_app.mcp_tools.find_invoices"


async def test_arguments_the_schema_allows_but_the_types_refuse_are_invalid_params(
    app_tools: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_shouting(text: str) -> str:
        if text.isupper():
            raise ValueError("no shouting")
        return text

    async def echo(
        ctx: ToolContext, message: Annotated[str, AfterValidator(no_shouting)]
    ) -> str:
        """Echo, quietly."""
        return message

    monkeypatch.setitem(TOOLS, "echo", build_spec(echo))
    alice = await app_tools.atoken("alice")

    reply = (await _call(alice, "echo", message="HELLO")).json()

    assert reply["error"]["code"] == -32602
    assert reply["error"]["data"]["path"] == "/message"
    assert "no shouting" in reply["error"]["data"]["reason"]
    assert await _audit("echo") == [
        ("tool_failed", "error", "invalid params: message: Value error, no shouting")
    ]

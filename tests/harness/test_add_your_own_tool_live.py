"""README "Add your own tool" end to end, on a real server, as an adopter does it.

The tools app of the test settings (tests/tools_app) plays the adopter's
app: its `find_invoices` is the README's example. On a fresh server
(migrated and seeded, the catalogue holding only the demo's rows):
`manage.py sync_tools` puts the app's tools in the catalogue; a customer
called ACME gets two invoices in tenant-a, and another customer, also
called ACME, one in tenant-b; an operator signs in to the admin in
Chromium and enables the tool for tenant-a; `manage.py harness` then calls
it as alice (tenant-a) and as carol (tenant-b). Every step runs as a user
runs it: commands are processes with the server's environment, the admin
is driven through its pages. The screenshots (the catalogue, the tool's
change form, the saved policy) are kept in test-artifacts/browser/.
"""

import json
from collections.abc import Iterator
from dataclasses import replace

import pytest
from playwright.sync_api import Page, expect

from tests.browser.support import (
    ARTIFACTS,
    TIMEOUT_MS,
    artifacts_on_failure,
    chromium,
)
from tests.live_server import LiveServer, run_live_server

expect.set_options(timeout=TIMEOUT_MS)

OPERATOR = "operator"
OPERATOR_PASSWORD = "quartz-lantern-meadow-41"  # passes the password validators

SEED_INVOICES = """
from tenants.models import Tenant
from tests.tools_app.models import Customer, Invoice

a = Tenant.objects.get(slug="tenant-a")
b = Tenant.objects.get(slug="tenant-b")
acme_a = Customer.objects.create(tenant=a, name="ACME")
acme_b = Customer.objects.create(tenant=b, name="ACME")
Invoice.objects.create(tenant=a, customer=acme_a, number="A-001", amount="120.00")
Invoice.objects.create(
    tenant=a, customer=acme_a, number="A-002", amount="75.50", paid=True
)
Invoice.objects.create(tenant=b, customer=acme_b, number="B-001", amount="999.00")
print(Invoice.objects.count())
"""

AUDITED = """
from audit.models import AuditEvent

events = AuditEvent.objects.filter(tool="find_invoices").order_by("occurred_at", "id")
for event in events:
    print(event.event, event.tenant.slug, event.reason or "-")
admin = AuditEvent.objects.filter(event="admin_action").order_by("-occurred_at")[0]
print(admin.user.username, admin.tenant.slug, admin.arguments["model"])
"""

FIND_ACME = ("--tool", "find_invoices", "--args", '{"customer": "ACME"}', "--json")


@pytest.fixture(scope="module")
def server(tmp_path_factory, live_env) -> Iterator[LiveServer]:
    with run_live_server(
        tmp_path_factory.mktemp("own-tool-live"), extra_env=live_env
    ) as live:
        yield live


@pytest.fixture
def page() -> Iterator[Page]:
    """Chromium at 1280 px, for this test alone."""
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.set_default_timeout(TIMEOUT_MS)
        yield context.new_page()
        context.close()


def harness(server: LiveServer, tenant: str) -> tuple[int, dict]:
    """`manage.py harness --tenant TENANT` finding ACME's invoices, as JSON."""
    run = server.run("manage.py", "harness", "--tenant", tenant, *FIND_ACME)
    assert run.stdout, run.stderr
    return run.returncode, json.loads(run.stdout)


def create_operator(server: LiveServer) -> None:
    """A superuser, made the way the README says (`createsuperuser`)."""
    env = {**server.env, "DJANGO_SUPERUSER_PASSWORD": OPERATOR_PASSWORD}
    replace(server, env=env).manage(
        "createsuperuser",
        "--noinput",
        "--username",
        OPERATOR,
        "--email",
        "operator@example.com",
    )


def enable_in_the_admin(page: Page, server: LiveServer) -> None:
    """Sign in as the operator; add tenant-a's policy enabling find_invoices."""
    page.goto(f"{server.url}/admin/login/?next=/admin/")
    page.get_by_label("Username").fill(OPERATOR)
    page.get_by_label("Password").fill(OPERATOR_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text(f"Welcome, {OPERATOR}")).to_be_visible()

    page.get_by_role("link", name="Tools", exact=True).click()
    rows = page.locator("#result_list tbody tr")
    find_invoices = rows.filter(has_text="find_invoices")
    expect(find_invoices).to_contain_text("Find invoices")
    expect(find_invoices).to_contain_text("tests.tools_app.mcp_tools.find_invoices")
    expect(find_invoices.locator(".field-available img")).to_have_attribute(
        "alt", "True"
    )
    expect(rows).to_have_count(8)
    expect(page.locator(".tool-catalogue-help")).to_contain_text("sync_tools")
    page.screenshot(path=ARTIFACTS / "own-tool-catalogue.png", full_page=True)

    find_invoices.get_by_role("link", name="find_invoices").click()
    expect(page.locator(".field-source .readonly")).to_have_text(
        "tests.tools_app.mcp_tools.find_invoices"
    )
    expect(page.locator(".field-annotations .readonly")).to_contain_text(
        '"readOnlyHint": true'
    )
    expect(page.locator(".field-available .readonly img")).to_have_attribute(
        "alt", "True"
    )
    page.screenshot(path=ARTIFACTS / "own-tool-change-form.png", full_page=True)

    page.goto(f"{server.url}/admin/")
    page.get_by_role("link", name="Tenant tool policies").click()
    page.get_by_role("link", name="Add tenant tool policy").click()
    page.get_by_label("Tenant:", exact=True).select_option(label="tenant-a")
    page.get_by_label("Tool:", exact=True).select_option(label="find_invoices")
    expect(page.get_by_label("Enabled")).to_be_checked()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist .success")).to_contain_text(
        "find_invoices for tenant-a (enabled)"
    )
    saved = page.locator("#result_list tbody tr").filter(has_text="find_invoices")
    expect(saved).to_have_count(1)
    expect(saved).to_contain_text("tenant-a")
    page.screenshot(path=ARTIFACTS / "own-tool-policy-saved.png", full_page=True)


def test_a_tool_is_synced_enabled_in_the_admin_and_called_in_its_tenant_only(
    request: pytest.FixtureRequest, page: Page, server: LiveServer
):
    first = server.manage("sync_tools").splitlines()
    # seed_demo wrote the demo tools' rows without what only the code knows.
    assert first == [
        "updated admin_purge: annotations, source",
        "added count_invoices (scopes tools:call)",
        "updated echo: annotations, source",
        "added explode (scopes tools:call)",
        "updated export_report: annotations, source",
        "added find_invoices (scopes tools:call)",
        "added mark_paid (scopes tools:call admin)",
        "updated search_documents: annotations, source",
        "8 registered tools; 8 catalogue changes.",
    ]
    assert server.manage("sync_tools").splitlines() == [
        "8 registered tools; no catalogue changes."
    ]
    assert server.manage("shell", "--no-imports", "-c", SEED_INVOICES).strip() == "3"

    code, before = harness(server, "tenant-a")
    assert code == 3, before  # in the catalogue, but no tenant has it yet
    assert before["error"] == (
        "denied: Unknown tool: find_invoices (not a tool of this tenant)"
    )

    create_operator(server)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with artifacts_on_failure(request.node, page):
        enable_in_the_admin(page, server)
    # The server rereads tenant-a's policy within MCP_POLICY_CACHE_SECONDS
    # (0.5 s), well before the harness has signed in.

    code, alice = harness(server, "tenant-a")
    assert code == 0, alice
    assert alice["user"] == "alice"
    assert "find_invoices" in [tool["name"] for tool in alice["tools"]]
    assert alice["result"]["is_error"] is False
    assert alice["result"]["structured"] == {
        "result": [
            {"number": "A-002", "customer": "ACME", "amount": "75.50", "paid": True},
            {"number": "A-001", "customer": "ACME", "amount": "120.00", "paid": False},
        ]
    }

    code, carol = harness(server, "tenant-b")
    assert code == 3, carol
    assert carol == {
        "ok": False,
        "exit_code": 3,
        "error": "denied: Unknown tool: find_invoices (not a tool of this tenant)",
    }

    audited = server.manage("shell", "--no-imports", "-c", AUDITED).splitlines()
    assert audited == [
        "tool_denied tenant-a tool_not_enabled",
        "tool_called tenant-a -",
        "tool_denied tenant-b tool_not_enabled",
        f"{OPERATOR} tenant-a tenants.tenanttool",
    ]

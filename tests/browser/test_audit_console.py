"""alice investigates her tenant's audit log in Chromium, at 1280 px.

The live server gets a morning's worth of audit rows (calls, refusals,
failures and sign-ins in both tenants, from two named clients); alice, the
admin of tenant-a, opens the list, one refusal's detail page and the
summary, and downloads the CSV export over the real ASGI server. The three
screenshots are kept in test-artifacts/browser/; with
UPDATE_DOCS_SCREENSHOTS=1 they also replace the README's copies in docs/
(a normal run never changes tracked files).
"""

import csv
import io
import os
import shutil

from playwright.sync_api import Page, expect

from tests.browser.support import ARTIFACTS
from tests.live_server import ROOT, LiveServer

SEED_AUDIT_ROWS = """
from django.db import transaction
from oauth2_provider.models import get_application_model

from accounts.models import User
from audit.services import record_event
from tenants.models import Tenant

Application = get_application_model()
for client_id, name in [
    ("4f1c2b9e8d7a6c5b4a3f2e1d0c9b8a7f6e5d4c3b", "Claude Desktop"),
    ("9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b", "Inventory agent"),
]:
    Application.objects.get_or_create(
        client_id=client_id,
        defaults={
            "name": name,
            "client_type": Application.CLIENT_PUBLIC,
            "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
            "redirect_uris": "http://127.0.0.1:9999/callback",
        },
    )
desktop = "4f1c2b9e8d7a6c5b4a3f2e1d0c9b8a7f6e5d4c3b"
agent = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b"
a = Tenant.objects.get(slug="tenant-a").pk
b = Tenant.objects.get(slug="tenant-b").pk
user = {u.username: u.pk for u in User.objects.all()}
rows = []
for n in range(6):
    rows.append(dict(event="tool_called", tenant_id=a, user_id=user["bob"],
        client_id=desktop, tool="search_documents",
        arguments={"query": f"security policy {n}", "limit": 5},
        request_id=f"req-a-search-{n}", duration_ms=3.2 + n))
for n in range(3):
    rows.append(dict(event="tool_called", tenant_id=a, user_id=user["alice"],
        client_id=agent, tool="echo", arguments={"message": f"ping {n}"},
        request_id=f"req-a-echo-{n}", duration_ms=0.8))
rows.append(dict(event="tool_denied", outcome="denied", tenant_id=a,
    user_id=user["bob"], client_id=desktop, tool="admin_purge",
    arguments={"confirm": True}, reason="missing_scope: needs admin",
    request_id="req-a-purge-denied"))
rows.append(dict(event="tool_failed", outcome="error", tenant_id=a,
    user_id=user["bob"], client_id=agent, tool="search_documents",
    arguments={"query": 42},
    reason="invalid params: query: 42 is not of type 'string'",
    request_id="req-a-invalid"))
rows.append(dict(event="tool_denied", outcome="denied", tenant_id=a,
    user_id=user["dave"], client_id=agent, tool="export_report",
    arguments={"report_id": "r1"}, reason="unknown_tool",
    request_id="req-a-unknown"))
rows.append(dict(event="tool_called", tenant_id=b, user_id=user["carol"],
    client_id=desktop, tool="export_report",
    arguments={"report_id": "r1", "format": "csv"},
    request_id="req-b-export"))
rows.append(dict(event="login_failed", outcome="denied",
    reason="failed operator console sign-in for 'mallory'"))
for fields in rows:
    with transaction.atomic(durable=True):
        record_event(**fields)
print(len(rows))
"""


def _sign_in(page: Page, server: LiveServer, username: str) -> None:
    page.goto(f"{server.url}/admin/login/?next=/admin/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("demo")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text(f"Welcome, {username}")).to_be_visible()


def _screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / name, full_page=True)
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1":
        shutil.copyfile(ARTIFACTS / name, ROOT / "docs" / name)


def test_alice_investigates_her_tenants_audit_log(page: Page, server: LiveServer):
    out = server.manage("shell", "--no-imports", "-c", SEED_AUDIT_ROWS)
    assert out.strip() == "14"
    page.set_viewport_size({"width": 1280, "height": 800})
    _sign_in(page, server, "alice")

    page.goto(f"{server.url}/admin/audit/auditevent/")
    rows = page.locator("#result_list tbody tr")
    expect(rows.filter(has_text="req-b-export")).to_have_count(0)
    expect(rows.filter(has_text="admin_purge")).to_have_count(1)
    expect(
        page.locator("#result_list").get_by_text("Claude Desktop").first
    ).to_be_visible()
    assert "export_report" not in rows.filter(has_text="Tool called").all_inner_texts()
    _screenshot(page, "console-audit-list.png")

    rows.filter(has_text="admin_purge").locator("th a").click()
    expect(page.locator(".field-decision .readonly")).to_have_text(
        "refused: needs scope admin"
    )
    expect(page.locator(".field-chain_status .readonly")).to_contain_text("chain OK")
    _screenshot(page, "console-audit-detail.png")

    page.goto(f"{server.url}/admin/audit/auditevent/summary/")
    expect(page.locator("svg.audit-chart")).to_have_count(2)
    _screenshot(page, "console-summary.png")

    page.goto(f"{server.url}/admin/audit/auditevent/?tool=search_documents")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    body = download.value.path().read_text()
    exported = list(csv.DictReader(io.StringIO(body)))
    assert len(exported) == 7
    assert {row["tenant"] for row in exported} == {"tenant-a"}

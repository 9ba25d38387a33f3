"""A tenant administrator cuts off a live MCP client from the operator console.

bob connects a client through the real login and consent in Chromium; alice,
admin of his tenant, signs in to the admin in another browser, selects the
client, runs "Revoke every token of the selected clients" and confirms. The
client's next /mcp call, within a second, is refused. Screenshots of the
client list and the confirmation page are kept in test-artifacts/browser/.
"""

import re
import time

import httpx2
from playwright.sync_api import Browser, Page, expect

from tests.browser.support import ARTIFACTS, Callback, OAuthClient
from tests.live_server import LiveServer

CLIENT_NAME = "Kill Switch Test Client"


def _tools_list_status(server: LiveServer, token: str) -> int:
    response = httpx2.post(
        server.mcp_url,
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2025-11-25",
        },
        timeout=10,
    )
    return response.status_code


def _connect_bob(page: Page, oauth: OAuthClient, callback: Callback) -> str:
    authorization = oauth.start(scope="tools:call", client_name=CLIENT_NAME)
    page.goto(authorization.url)
    page.get_by_label("Username").fill("bob")
    page.get_by_label("Password").fill("demo")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Allow").click()
    expect(page.get_by_text("Client got the answer.")).to_be_visible()
    return oauth.redeem(authorization, callback.only_hit()["code"]).access_token


def _screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.screenshot(path=ARTIFACTS / name, full_page=True)


def test_a_tenant_admin_cuts_off_a_live_client_in_one_action(
    page: Page,
    browser: Browser,
    oauth: OAuthClient,
    callback: Callback,
    server: LiveServer,
) -> None:
    token = _connect_bob(page, oauth, callback)
    assert _tools_list_status(server, token) == 200

    context = browser.new_context()
    console = context.new_page()
    console.goto(f"{server.url}/admin/login/?next=/admin/")
    console.get_by_label("Username").fill("alice")
    console.get_by_label("Password").fill("demo")
    console.get_by_role("button", name="Log in").click()
    console.goto(f"{server.url}/admin/oauth2_provider/application/")
    row = console.locator("#result_list tr").filter(has_text=CLIENT_NAME)
    expect(row).to_have_count(1)
    _screenshot(console, "console-client-list.png")

    row.locator("input[name=_selected_action]").check()
    console.locator("select[name=action]").select_option("revoke_client_tokens")
    console.get_by_role("button", name="Go").click()
    expect(console.get_by_text(CLIENT_NAME)).to_be_visible()
    _screenshot(console, "console-kill-switch-confirmation.png")
    console.get_by_role("button", name=re.compile("Yes, I.m sure")).click()
    expect(console.locator("ul.messagelist")).to_be_visible()
    context.close()

    deadline = time.monotonic() + 1.5
    status = _tools_list_status(server, token)
    while status == 200 and time.monotonic() < deadline:
        time.sleep(0.1)
        status = _tools_list_status(server, token)
    assert status == 401

"""Every kind of page works in Chromium under its Content-Security-Policy.

A person connects a client (sign-in, tenant choice, consent, the redirect
to the client), visits their account, signs out and hits a missing page;
an operator walks the console: the index, a changelist with filters and a
date range, a change form with autocomplete and the calendar, an audit
row, the summary's inline SVG and a kill switch's confirmation. Each test
fails on any console message about the Content Security Policy, on any
securitypolicyviolation event, and on an HTML page of this server that
comes without a policy. Screenshots are kept in test-artifacts/browser/
(csp-*.png).

The last test pins why the OAuth pages widen form-action (config/
security_headers.py): served the default policy, Chromium refuses the
consent form's redirect to the client.
"""

import re

import pytest
from playwright.sync_api import Page, Route, expect

from config.security_headers import content_security_policy
from tests.browser.support import ARTIFACTS, Callback, OAuthClient
from tests.live_server import LiveServer

CALLBACK_URL = re.compile(r"^http://127\.0\.0\.1:\d+/callback\?")
# A CSP violation reaches the page's console (Chromium's own message) and,
# for what a document does itself, a securitypolicyviolation event, which
# this script (run by Playwright, outside the page's policy) reports too.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`Content Security Policy violation: ${event.violatedDirective}`
    + ` blocked ${event.blockedURI} at ${event.sourceFile}:${event.lineNumber}`);
});
"""
# An operator, a user of no tenant, a client and a tool call for the
# summary's chart.
SETUP = """
from django.db import transaction
from oauth2_provider.models import get_application_model

from accounts.models import User
from audit.services import record_event
from tenants.models import Tenant

User.objects.create_superuser("operator", "operator@example.com", "demo")
User.objects.create_user("erin", "erin@example.com", "demo")
Application = get_application_model()
Application.objects.create(
    client_id="csp-test-client",
    name="CSP Test Client",
    client_type=Application.CLIENT_PUBLIC,
    authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
    redirect_uris="http://127.0.0.1:9999/callback",
)
with transaction.atomic(durable=True):
    record_event(
        event="tool_called",
        tenant_id=Tenant.objects.get(slug="tenant-a").pk,
        user_id=User.objects.get(username="bob").pk,
        client_id="csp-test-client",
        tool="echo",
        arguments={"message": "hi"},
        request_id="req-csp-echo",
        duration_ms=1.0,
    )
print("ok")
"""


class Watch:
    """What the pages of one browser context said about the policy."""

    def __init__(self, page: Page, server: LiveServer) -> None:
        self.violations: list[str] = []
        self.unprotected: list[str] = []
        page.add_init_script(REPORT_VIOLATIONS)
        page.on("console", self._console)
        page.on("response", lambda response: self._response(response, server))

    def _console(self, message: object) -> None:
        text = message.text  # type: ignore[attr-defined]
        if "Content Security Policy" in text:
            self.violations.append(text)

    def _response(self, response: object, server: LiveServer) -> None:
        request = response.request  # type: ignore[attr-defined]
        headers = response.headers  # type: ignore[attr-defined]
        if (
            request.resource_type == "document"
            and response.url.startswith(server.url)  # type: ignore[attr-defined]
            and headers.get("content-type", "").startswith("text/html")
            and "content-security-policy" not in headers
        ):
            self.unprotected.append(response.url)  # type: ignore[attr-defined]

    def assert_clean(self) -> None:
        assert self.violations == []
        assert self.unprotected == []


@pytest.fixture(scope="module")
def accounts(server: LiveServer) -> None:
    assert server.manage("shell", "--no-imports", "-c", SETUP).strip() == "ok"


@pytest.fixture
def watch(page: Page, server: LiveServer) -> Watch:
    page.set_viewport_size({"width": 1280, "height": 800})
    return Watch(page, server)


def _shot(page: Page, name: str) -> None:
    page.wait_for_load_state("networkidle")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"csp-{name}.png", full_page=True)


def _sign_in(page: Page, username: str) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("demo")
    page.get_by_role("button", name=re.compile("^(Sign in|Log in)$")).click()


def test_a_person_connects_a_client_and_signs_out_without_a_violation(
    page: Page,
    watch: Watch,
    server: LiveServer,
    oauth: OAuthClient,
    callback: Callback,
) -> None:
    page.goto(f"{server.url}/")
    _shot(page, "home")

    authorization = oauth.start(scope="tools:call")
    page.goto(authorization.url)
    _shot(page, "login")
    _sign_in(page, "dave")
    expect(page.get_by_role("heading", name="Choose a tenant")).to_be_visible()
    _shot(page, "choose-tenant")
    page.get_by_role("button", name=re.compile(r"\(tenant-a,")).click()
    expect(page.get_by_role("button", name="Allow")).to_be_visible()
    _shot(page, "consent")
    page.get_by_role("button", name="Allow").click()
    expect(page).to_have_url(CALLBACK_URL)
    assert "code" in callback.only_hit()

    page.goto(f"{server.url}/account/")
    expect(page.locator("#signed-in-as")).to_have_text("Signed in as dave")
    _shot(page, "account")
    page.goto(f"{server.url}/accounts/logout/")
    _shot(page, "logout-confirm")
    page.locator("main").get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{server.url}/")
    response = page.goto(f"{server.url}/no-such-page")
    assert response is not None
    assert response.status == 404
    _shot(page, "404")
    watch.assert_clean()


def test_a_refusal_after_sign_in_reaches_the_client(
    page: Page,
    watch: Watch,
    accounts: None,
    oauth: OAuthClient,
    callback: Callback,
) -> None:
    """erin belongs to no tenant: /authorize sends access_denied to the client.

    That redirect follows the sign-in form's POST, so the login page's
    form-action must name the client's origin.
    """
    page.goto(oauth.start(scope="tools:call").url)
    _sign_in(page, "erin")
    expect(page).to_have_url(CALLBACK_URL)
    assert callback.only_hit()["error"] == "access_denied"
    watch.assert_clean()


def test_an_operator_walks_the_console_without_a_violation(
    page: Page, watch: Watch, server: LiveServer, accounts: None
) -> None:
    page.goto(f"{server.url}/admin/login/?next=/admin/")
    _shot(page, "admin-login")
    _sign_in(page, "operator")
    expect(page.get_by_text("Welcome, operator")).to_be_visible()
    _shot(page, "admin-index")

    page.goto(
        f"{server.url}/admin/audit/auditevent/"
        "?outcome=ok&occurred_from=2020-01-01&occurred_to=2099-12-31"
    )
    expect(page.locator("input[type=date][name=occurred_from]")).to_have_value(
        "2020-01-01"
    )
    _shot(page, "audit-changelist-filtered")
    page.locator("#result_list tbody tr th a").first.click()
    expect(page.locator(".field-chain_status .readonly")).to_be_visible()
    _shot(page, "audit-detail")
    page.goto(f"{server.url}/admin/audit/auditevent/summary/")
    expect(page.locator("svg.audit-chart").first).to_be_visible()
    _shot(page, "audit-summary")

    page.goto(f"{server.url}/admin/tenants/membership/")
    page.locator("#result_list tbody tr th a").first.click()
    page.locator(".select2-selection").first.click()  # autocomplete (select2)
    expect(page.locator(".select2-results__option").first).to_be_visible()
    _shot(page, "membership-change-autocomplete")

    page.goto(f"{server.url}/admin/accounts/user/?q=dave")
    page.locator("#result_list tbody tr th a").first.click()
    page.locator("a[id^=calendarlink]").first.click()  # DateTimeShortcuts
    expect(page.locator(".calendarbox").first).to_be_visible()
    _shot(page, "user-change-calendar")

    page.goto(f"{server.url}/admin/oauth2_provider/application/")
    page.locator("input[name=_selected_action]").first.check()
    page.locator("select[name=action]").select_option("revoke_client_tokens")
    page.get_by_role("button", name="Go").click()
    expect(page.get_by_role("button", name=re.compile("Yes, I.m sure"))).to_be_visible()
    _shot(page, "kill-switch-confirmation")
    watch.assert_clean()


def test_chromium_applies_form_action_to_the_consent_redirect(
    page: Page,
    watch: Watch,
    oauth: OAuthClient,
    callback: Callback,
) -> None:
    """With the default policy on the consent page, Allow never reaches the client."""

    def default_policy(route: Route) -> None:
        if route.request.method != "GET":
            route.continue_()
            return
        response = route.fetch()
        headers = {
            **response.headers,
            "content-security-policy": content_security_policy(),
        }
        route.fulfill(response=response, headers=headers)

    page.goto(oauth.start(scope="tools:call").url)
    _sign_in(page, "alice")
    expect(page.get_by_role("button", name="Allow")).to_be_visible()
    page.route(re.compile(r"/authorize\?"), default_policy)
    page.reload()
    page.get_by_role("button", name="Allow").click()
    for _ in range(50):
        if watch.violations:
            break
        page.wait_for_timeout(100)
    assert any("form-action" in text for text in watch.violations), watch.violations
    assert callback.hits == []

"""Login, tenant choice and consent in a real Chromium, against a live server.

Each test registers a public client whose redirect URI is a real HTTP server
on a loopback port, opens the authorize URL in the browser and works the
pages as a person would: it types into the fields and clicks the buttons by
their visible names. The browser then follows the redirect to the loopback
callback, which records what arrived; codes are redeemed at /token and the
JWT's claims checked.
"""

import re
from http import HTTPStatus
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.support import ARTIFACTS, Callback, OAuthClient
from tests.live_server import LiveServer

CALLBACK_URL = re.compile(r"^http://127\.0\.0\.1:\d+/callback\?")


def sign_in(page: Page, username: str, password: str = "demo") -> None:
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def consent_detail(page: Page, label: str) -> Locator:
    """The value the consent page shows next to `label` (its <dd>)."""
    term = page.locator("dt").filter(has_text=re.compile(rf"^{label}$"))
    return term.locator("xpath=following-sibling::dd[1]")


def granted_scopes(page: Page) -> Locator:
    return page.locator("#granted-scopes li code")


def expect_consent_page(page: Page, *, tenant: str, role: str) -> None:
    expect(
        page.get_by_role("heading", name="Authorize Browser Test Client?")
    ).to_be_visible()
    expect(consent_detail(page, "Client")).to_have_text("Browser Test Client")
    expect(consent_detail(page, "Tenant")).to_contain_text(f"({tenant}), as {role}")


def test_one_tenant_user_consents_and_the_client_gets_an_admin_token(
    page: Page, oauth: OAuthClient, callback: Callback, server: LiveServer
) -> None:
    authorization = oauth.start(scope="tools:call admin")
    page.goto(authorization.url)
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))
    sign_in(page, "alice")

    expect_consent_page(page, tenant="tenant-a", role="admin")
    expect(consent_detail(page, "Redirects to")).to_have_text(
        urlsplit(callback.url).netloc  # 127.0.0.1:PORT
    )
    expect(consent_detail(page, "Signed in as")).to_have_text("alice")
    # Where the token will be accepted: this server's own MCP endpoint.
    expect(consent_detail(page, "For use at")).to_contain_text(f"{server.url}/mcp")
    expect(granted_scopes(page)).to_have_text(["admin", "tools:call"])
    assert callback.hits == []  # nothing reaches the client before the choice
    # Kept as a test artifact: what a person is asked to approve.
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "consent.png", full_page=True)

    page.get_by_role("button", name="Allow").click()

    expect(page).to_have_url(CALLBACK_URL)
    expect(page.get_by_text("Client got the answer.")).to_be_visible()
    answer = callback.only_hit()
    assert answer["state"] == authorization.state
    assert answer["iss"] == server.url
    assert "error" not in answer
    token = oauth.redeem(authorization, answer["code"])
    assert " ".join(token.scopes) == "admin tools:call"
    assert token.claims["scope"] == "admin tools:call"
    assert token.claims["tenant"] == "tenant-a"
    assert token.claims["client_id"] == authorization.client_id


@pytest.mark.parametrize(
    ("tenant", "role", "scopes"),
    [
        ("tenant-b", "admin", ["admin", "tools:call"]),
        ("tenant-a", "member", ["tools:call"]),
    ],
)
def test_two_tenant_user_chooses_a_tenant_and_the_token_is_for_it(
    page: Page,
    oauth: OAuthClient,
    callback: Callback,
    tenant: str,
    role: str,
    scopes: list[str],
) -> None:
    authorization = oauth.start(scope="tools:call admin")
    page.goto(authorization.url)
    sign_in(page, "dave")

    expect(page.get_by_role("heading", name="Choose a tenant")).to_be_visible()
    expect(page.locator("form button")).to_have_text(
        [
            re.compile(r"Tenant A\s+\(tenant-a, member\)"),
            re.compile(r"Tenant B\s+\(tenant-b, admin\)"),
        ]
    )
    page.get_by_role("button", name=re.compile(rf"\({tenant},")).click()

    expect_consent_page(page, tenant=tenant, role=role)
    expect(granted_scopes(page)).to_have_text(scopes)
    page.get_by_role("button", name="Allow").click()

    expect(page).to_have_url(CALLBACK_URL)
    answer = callback.only_hit()
    assert answer["state"] == authorization.state
    token = oauth.redeem(authorization, answer["code"])
    assert token.claims["tenant"] == tenant
    assert token.claims["scope"] == " ".join(scopes)


def test_deny_sends_access_denied_to_the_client_and_no_code(
    page: Page, oauth: OAuthClient, callback: Callback, server: LiveServer
) -> None:
    authorization = oauth.start(scope="tools:call")
    page.goto(authorization.url)
    sign_in(page, "carol")
    expect_consent_page(page, tenant="tenant-b", role="member")

    page.get_by_role("button", name="Deny").click()

    expect(page).to_have_url(CALLBACK_URL)
    answer = callback.only_hit()
    assert answer["error"] == "access_denied"
    assert answer["state"] == authorization.state
    assert answer["iss"] == server.url
    assert "code" not in answer


def test_wrong_password_stays_on_the_login_page_with_an_error(
    page: Page, oauth: OAuthClient, callback: Callback
) -> None:
    authorization = oauth.start(scope="tools:call")
    page.goto(authorization.url)

    sign_in(page, "alice", password="not-the-password")

    expect(page.get_by_role("alert")).to_have_text(
        "Your username and password didn't match. Please try again."
    )
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    expect(page.get_by_label("Password")).to_have_value("")
    assert callback.hits == []
    # The same form then works with the right password.
    sign_in(page, "alice")
    expect_consent_page(page, tenant="tenant-a", role="admin")
    assert callback.hits == []


def test_consent_post_without_csrf_token_is_refused_and_issues_no_code(
    page: Page, oauth: OAuthClient, callback: Callback
) -> None:
    authorization = oauth.start(scope="tools:call")
    page.goto(authorization.url)
    sign_in(page, "bob")
    expect_consent_page(page, tenant="tenant-a", role="member")
    consent_url = page.url

    # A POST with the session cookie and the form's fields, but no token.
    fields = page.evaluate(
        """() => Object.fromEntries(
            [...document.querySelectorAll('#authorizationForm input[type=hidden]')]
              .filter(input => input.name !== 'csrfmiddlewaretoken')
              .map(input => [input.name, input.value]))"""
    )
    assert "client_id" in fields
    forged = page.context.request.post(
        consent_url, form={**fields, "allow": "Authorize"}, max_redirects=0
    )
    assert forged.status == HTTPStatus.FORBIDDEN
    assert "location" not in forged.headers
    assert "CSRF verification failed" in forged.text()

    # The page's own form with its token input removed.
    removed = page.evaluate(
        """() => {
            const inputs = document.querySelectorAll(
                '#authorizationForm input[name=csrfmiddlewaretoken]');
            inputs.forEach(input => input.remove());
            return inputs.length;
        }"""
    )
    assert removed == 1
    with page.expect_response(
        lambda response: response.request.method == "POST"
    ) as refused:
        page.get_by_role("button", name="Allow").click()
    assert refused.value.status == HTTPStatus.FORBIDDEN
    expect(page.get_by_text("CSRF verification failed")).to_be_visible()
    assert callback.hits == []

    # The refusals were the missing token's doing: with it, Allow works.
    page.goto(consent_url)
    page.get_by_role("button", name="Allow").click()
    expect(page).to_have_url(CALLBACK_URL)
    assert "code" in callback.only_hit()


def test_member_asking_for_admin_sees_it_withheld_and_gets_tools_call_only(
    page: Page, oauth: OAuthClient, callback: Callback
) -> None:
    authorization = oauth.start(scope="tools:call admin")
    page.goto(authorization.url)
    sign_in(page, "bob")

    expect_consent_page(page, tenant="tenant-a", role="member")
    expect(granted_scopes(page)).to_have_text(["tools:call"])
    expect(
        page.get_by_text("Requested but not granted to your role: admin.")
    ).to_be_visible()
    page.get_by_role("button", name="Allow").click()

    expect(page).to_have_url(CALLBACK_URL)
    token = oauth.redeem(authorization, callback.only_hit()["code"])
    assert token.scopes == ["tools:call"]
    assert token.claims["scope"] == "tools:call"
    assert token.claims["tenant"] == "tenant-a"

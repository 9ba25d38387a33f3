"""The pages a person lands on, styled and working in Chromium.

Home, the login page, the account page and the console's login page link
stylesheets that all answer 200 (static files served by the one ASGI app,
after collectstatic, as in production). A person signs in at the login
page, lands on their account page, and signs out with the header's button.
Screenshots of each page are kept in test-artifacts/browser/.
"""

from http import HTTPStatus

from playwright.sync_api import Page, expect

from tests.browser.support import ARTIFACTS
from tests.live_server import LiveServer


def _visit(page: Page, statuses: dict[str, int], url: str, screenshot: str) -> None:
    """Open `url`: 200, every linked stylesheet 200; save a screenshot."""
    response = page.goto(url)
    assert response is not None
    assert response.status == HTTPStatus.OK, url
    _check_stylesheets_and_save(page, statuses, screenshot)


def _check_stylesheets_and_save(
    page: Page, statuses: dict[str, int], screenshot: str
) -> None:
    page.wait_for_load_state("networkidle")
    hrefs = page.eval_on_selector_all(
        "link[rel=stylesheet]", "links => links.map(link => link.href)"
    )
    assert hrefs, f"{page.url} links no stylesheet"
    assert {href: statuses.get(href) for href in hrefs} == dict.fromkeys(
        hrefs, HTTPStatus.OK
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.screenshot(path=ARTIFACTS / screenshot, full_page=True)


def test_a_person_signs_in_lands_on_their_account_and_signs_out(
    page: Page, server: LiveServer
) -> None:
    statuses: dict[str, int] = {}
    page.on(
        "response", lambda response: statuses.update({response.url: response.status})
    )

    _visit(page, statuses, f"{server.url}/", "pages-home.png")
    expect(page.locator("#mcp-url")).to_have_text(server.mcp_url)
    _visit(page, statuses, f"{server.url}/admin/login/", "pages-admin-login.png")

    page.goto(f"{server.url}/")
    page.get_by_role("link", name="Sign in").first.click()
    _check_stylesheets_and_save(page, statuses, "pages-login.png")
    page.get_by_label("Username").fill("dave")
    page.get_by_label("Password").fill("demo")
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(f"{server.url}/account/")
    expect(page.locator("#signed-in-as")).to_have_text("Signed in as dave")
    expect(page.locator("#tenants tbody tr")).to_have_count(2)
    _check_stylesheets_and_save(page, statuses, "pages-account.png")

    _visit(page, statuses, f"{server.url}/", "pages-home-signed-in.png")
    page.locator("header").get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{server.url}/")
    expect(page.locator("header").get_by_role("link", name="Sign in")).to_be_visible()
    page.goto(f"{server.url}/account/")
    expect(page).to_have_url(f"{server.url}/accounts/login/?next=/account/")

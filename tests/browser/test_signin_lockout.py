"""The sign-in lockout as a person meets it, in Chromium.

Five wrong passwords for dave at the login page; the sixth try, with his
right password, stays on the login page answered 429 with the lockout
message, and he is not signed in. The console's login page says the same.
Screenshots: test-artifacts/browser/signin-lockout.png and
signin-lockout-console.png.
"""

import re
from http import HTTPStatus

from playwright.sync_api import Page, expect

from tests.browser.support import ARTIFACTS
from tests.live_server import LiveServer

LOCKED = re.compile(r"Too many failed sign-ins; try again in \d+ seconds\.")


def _submit(page: Page, username: str, password: str) -> int:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name=re.compile("Sign in|Log in")).click()
    return answer.value.status


def test_the_login_page_says_how_long_a_lockout_lasts(
    page: Page, server: LiveServer
) -> None:
    page.goto(f"{server.url}/accounts/login/")
    for _ in range(5):
        assert _submit(page, "dave", "not-his-password") == HTTPStatus.OK
        expect(page.get_by_role("alert")).to_have_text(
            "Your username and password didn't match. Please try again."
        )

    assert _submit(page, "dave", "demo") == HTTPStatus.TOO_MANY_REQUESTS

    expect(page.get_by_role("alert")).to_have_text(LOCKED)
    expect(page).to_have_url(f"{server.url}/accounts/login/")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.screenshot(path=ARTIFACTS / "signin-lockout.png", full_page=True)
    page.goto(f"{server.url}/account/")
    expect(page).to_have_url(f"{server.url}/accounts/login/?next=/account/")

    page.goto(f"{server.url}/admin/login/")
    assert _submit(page, "dave", "demo") == HTTPStatus.TOO_MANY_REQUESTS
    expect(page.locator(".errornote, .errorlist").first).to_contain_text(LOCKED)
    page.screenshot(path=ARTIFACTS / "signin-lockout-console.png", full_page=True)

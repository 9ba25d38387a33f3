"""Fixtures for the browser tests: a live server, Chromium, a loopback callback.

Playwright drives Debian's Chromium at /usr/bin/chromium; it never downloads
a browser. A missing Chromium fails the tests (never skips them) with the
command that installs it; `make test` installs it with apt when it can.

Playwright's sync API runs its own event loop in this thread and leaves it
marked as running between calls. Browser tests are therefore plain sync
functions, the browser lives no longer than one module, and nothing here
calls async code (no `async_to_sync`, no Django ORM).

When a test fails, a screenshot and the HTML of its page are saved under
test-artifacts/browser/ and their paths are added to the failure report.
"""

from collections.abc import Iterator

import httpx2
import pytest
from playwright.sync_api import Browser, Page, expect

from harness.discovery import Discovery, discover
from tests.browser.support import (
    TIMEOUT_MS,
    Callback,
    OAuthClient,
    chromium,
    save_artifacts,
)
from tests.live_server import LiveServer, run_live_server

expect.set_options(timeout=TIMEOUT_MS)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Iterator[None]:
    """Save the page of a failed browser test while it is still open."""
    report = yield
    page = getattr(item, "funcargs", {}).get("page")
    if report.failed and report.when == "call" and page is not None:
        report.sections.append(("browser artifacts", save_artifacts(item, page)))
    return report


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as running:
        yield running


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in a fresh context: no cookies or session from another test."""
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with run_live_server(tmp_path_factory.mktemp("browser-live")) as live:
        yield live


@pytest.fixture(scope="module")
def discovery(server: LiveServer) -> Discovery:
    """What a client finds from the 401 at /mcp (RFC 9728, then RFC 8414)."""
    with httpx2.Client(timeout=10) as client:
        return discover(client, server.mcp_url)


@pytest.fixture
def callback() -> Iterator[Callback]:
    with Callback() as running:
        yield running


@pytest.fixture
def oauth(discovery: Discovery, callback: Callback) -> OAuthClient:
    return OAuthClient(discovery, callback)

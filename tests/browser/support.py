"""Helpers of the browser tests, apart from their fixtures.

Chromium and its launch settings, the failure artifacts, the client's loopback
callback, and the OAuth client of the tests: the terminal client's steps
(harness/registration.py, harness/authorization.py, harness/tokens.py)
registering, building authorize URLs and redeeming codes over real HTTP, while Chromium
does the login and consent.
"""

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx2
import jwt
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from harness.authorization import AuthorizationRequest, Code, authorization_request
from harness.discovery import Discovery
from harness.registration import register
from harness.tokens import Grant, redeem
from tests.live_server import ROOT

CHROMIUM = Path("/usr/bin/chromium")
# The background-networking flags matter: without them Chromium keeps
# opening outbound connections (updates, sync, field trials) that this
# closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
TIMEOUT_MS = 15_000


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium under Playwright; a missing one fails, never skips."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is missing: the browser tests need {CHROMIUM}. "
            "Install it with `sudo apt-get install -y chromium` (`make test` "
            "does this when apt is usable).",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def artifacts_on_failure(item: pytest.Item, page: Page) -> Iterator[None]:
    """Save `page` if the block fails, and add where it went to the error.

    tests/browser/conftest.py does this for every test there; this is for a
    browser test elsewhere.
    """
    try:
        yield
    except Exception as error:
        error.add_note(save_artifacts(item, page))
        raise


def save_artifacts(item: pytest.Item, page: Page) -> str:
    """Save a screenshot and the HTML of `page`; return where they went."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid)
    screenshot = ARTIFACTS / f"{stem}.png"
    html = ARTIFACTS / f"{stem}.html"
    try:
        page.screenshot(path=screenshot, full_page=True)
        html.write_text(page.content())
    except Exception as exc:  # a crashed page must not hide the real failure
        return f"could not save the page ({exc!r}); it was at {page.url}"
    return f"page {page.url}\nscreenshot {screenshot}\nhtml {html}"


class Callback:
    """A real HTTP server on a loopback port that records each /callback hit."""

    def __init__(self) -> None:
        self.hits: list[dict[str, list[str]]] = []
        hits = self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != "/callback":
                    self.send_error(404)
                    return
                hits.append(parse_qs(parts.query))
                body = b"<!doctype html><title>Done</title><p>Client got the answer."
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_port}/callback"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> "Callback":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def only_hit(self) -> dict[str, str]:
        """The one callback's query, each parameter once."""
        assert len(self.hits) == 1, f"expected one callback, got {self.hits}"
        query = self.hits[0]
        assert all(len(values) == 1 for values in query.values()), query
        return {name: values[0] for name, values in query.items()}


class OAuthClient:
    """The terminal client's registration, authorize URL and redemption.

    Each client it registers redirects to `callback`; the browser does the
    rest.
    """

    def __init__(self, discovery: Discovery, callback: Callback) -> None:
        self.discovery = discovery
        self.callback = callback

    def start(
        self, *, scope: str, client_name: str = "Browser Test Client"
    ) -> AuthorizationRequest:
        """Register a client for the loopback callback; return its request."""
        with httpx2.Client(timeout=10) as client:
            client_id = register(
                client,
                self.discovery,
                redirect_uri=self.callback.url,
                scope=scope,
                client_name=client_name,
            )
        return authorization_request(
            self.discovery.metadata["authorization_endpoint"],
            client_id=client_id,
            redirect_uri=self.callback.url,
            scope=scope,
            resource=self.discovery.resource,
        )

    def redeem(self, authorization: AuthorizationRequest, code: str) -> Grant:
        """Exchange `code` at /token; the grant's claims are JWKS-verified."""
        with httpx2.Client(timeout=10) as client:
            grant = redeem(client, Code(self.discovery, authorization, code))
        assert jwt.get_unverified_header(grant.access_token)["typ"] == "at+jwt"
        return grant

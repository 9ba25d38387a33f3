"""Helpers of the browser tests, apart from their fixtures.

Chromium's launch settings, the failure artifacts, the client's loopback
callback and an OAuth client that registers, builds authorize URLs and
redeems codes over real HTTP.
"""

import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from playwright.sync_api import Page

from tests.e2e.requests_flow import Begun, begin
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
    """Registration, the authorize URL and code redemption, over real HTTP."""

    def __init__(self, metadata: dict, callback: Callback) -> None:
        self.metadata = metadata
        self.callback = callback

    def start(self, *, scope: str, client_name: str = "Browser Test Client") -> Begun:
        """Register a client for the loopback callback; return its authorize URL."""
        return begin(
            self.metadata,
            resource=self.metadata["resource"],
            redirect_uri=self.callback.url,
            scope=scope,
            client_name=client_name,
        )

    def redeem(self, authorization: Begun, code: str) -> dict:
        """Exchange `code` at /token; return the response with verified claims."""
        response = requests.post(
            self.metadata["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": authorization.redirect_uri,
                "client_id": authorization.client_id,
                "code_verifier": authorization.verifier,
                "resource": self.metadata["resource"],
            },
            timeout=10,
        )
        assert response.status_code == HTTPStatus.OK, response.text
        body = response.json()
        return {**body, "claims": self._verified_claims(body["access_token"])}

    def _verified_claims(self, token: str) -> dict:
        jwks = requests.get(self.metadata["jwks_uri"], timeout=10).json()
        header = jwt.get_unverified_header(token)
        assert header["typ"] == "at+jwt"
        key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
        return jwt.decode(
            token,
            jwt.PyJWK(key).key,
            algorithms=[key["alg"]],
            audience=self.metadata["resource"],
            issuer=self.metadata["issuer"],
        )

"""A headless stand-in for the browser that `claude mcp login` opens.

Claude Code runs `$BROWSER <authorize URL>`. This script is that command:
it follows the URL to the server's real login form, signs in (username and
password from `CLAUDE_BROWSER_USERNAME` / `CLAUDE_BROWSER_PASSWORD`),
approves the consent form, and then GETs the redirect Location, which is
Claude Code's own loopback callback, as a browser would. Every request
goes through the server's forms with their CSRF tokens; nothing is
shortcut.

Each step is appended as one JSON line to `CLAUDE_BROWSER_REPORT`, so the
test can assert on what the pages said and show the steps on failure.
Exits 0 once the callback has answered, 1 otherwise (Claude Code does not
show a browser's output, hence the report).

Run it with the project's Python from the project root (it imports
`tests.e2e.requests_flow`); tests/e2e/claude_code.py writes the wrapper.
"""

import json
import os
import re
import sys
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests

from tests.e2e.requests_flow import hidden_inputs

TIMEOUT = 10


def _report(step: str, **fields: object) -> None:
    path = os.environ.get("CLAUDE_BROWSER_REPORT")
    if path:
        with Path(path).open("a") as report:
            report.write(json.dumps({"step": step, **fields}) + "\n")


def _consent_facts(html: str) -> dict[str, object]:
    """What the consent page tells the user: tenant, user, granted scopes."""
    tenant = re.search(r'data-tenant="([^"]*)"', html)
    user = re.search(r"<dt>Signed in as</dt><dd>([^<]*)</dd>", html)
    granted = re.search(
        r'<ul class="scopes" id="granted-scopes">(.*?)</ul>', html, re.S
    )
    return {
        "tenant": unescape(tenant.group(1)) if tenant else None,
        "signed_in_as": unescape(user.group(1)) if user else None,
        "granted_scopes": re.findall(r"<code>([^<]*)</code>", granted.group(1))
        if granted
        else [],
    }


def sign_in_and_consent(authorize_url: str) -> int:
    """Walk `authorize_url` through the login and consent forms.

    Returns 0 once Claude Code's callback has answered the redirect, 1 on
    any page that is not the expected next step (recorded in the report).
    """
    username = os.environ.get("CLAUDE_BROWSER_USERNAME", "alice")
    password = os.environ.get("CLAUDE_BROWSER_PASSWORD", "demo")
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
    _report("opened", url=authorize_url, query=query)

    browser = requests.Session()
    login_page = browser.get(authorize_url, timeout=TIMEOUT)
    if "/accounts/login/" not in login_page.url:
        _report("no login form", url=login_page.url, body=login_page.text[:2000])
        return 1
    page = browser.post(
        login_page.url,
        data={
            **hidden_inputs(login_page.text),
            "username": username,
            "password": password,
        },
        headers={"Referer": login_page.url},
        timeout=TIMEOUT,
    )
    _report("signed in", status=page.status_code, user=username)
    if 'id="authorizationForm"' not in page.text:
        _report("no consent form", url=page.url, body=page.text[:2000])
        return 1
    _report("consent page", **_consent_facts(page.text))
    answer = browser.post(
        page.url,
        data={**hidden_inputs(page.text), "allow": "Authorize"},
        headers={"Referer": page.url},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    location = answer.headers.get("Location", "")
    _report("consented", status=answer.status_code, location=location)
    if not location.startswith(query.get("redirect_uri", "\0") + "?"):
        _report("no redirect to the callback", body=answer.text[:2000])
        return 1
    # The redirect goes to Claude Code's own listener, not to the server.
    callback = requests.get(location, timeout=TIMEOUT)
    _report("callback", status=callback.status_code)
    return 0 if callback.ok else 1


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        _report("usage", argv=argv)
        return 2
    try:
        return sign_in_and_consent(argv[1])
    except Exception as exc:  # reported: Claude Code hides a browser's stderr
        _report("error", error=repr(exc))
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))

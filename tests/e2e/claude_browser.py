"""A headless stand-in for the browser that `claude mcp login` opens.

Claude Code runs `$BROWSER <authorize URL>`. This script is that command:
it follows the URL to the server's real login form, signs in (username and
password from `CLAUDE_BROWSER_USERNAME` / `CLAUDE_BROWSER_PASSWORD`),
approves the consent form, and then GETs the redirect Location, which is
Claude Code's own loopback callback, as a browser would. Every request
goes through the server's forms with their CSRF tokens; nothing is
shortcut.

The walk is harness/consent_walk.py's `approve_in_browser`, the project's
one client of those pages. Each step is appended as one JSON line to
`CLAUDE_BROWSER_REPORT`, so the test can assert on what the pages said and
show the steps on failure. Exits 0 once the callback has answered, 1
otherwise (Claude Code does not show a browser's output, hence the report).

Run it with the project's Python from the project root (it imports
`harness.consent_walk`); tests/e2e/claude_code.py writes the wrapper.
"""

import json
import os
import sys
from pathlib import Path

import httpx2

from harness.authorization import query_params
from harness.consent_walk import approve_in_browser
from harness.pages import Page

TIMEOUT = 10


def _report(step: str, **fields: object) -> None:
    path = os.environ.get("CLAUDE_BROWSER_REPORT")
    if path:
        with Path(path).open("a") as report:
            report.write(json.dumps({"step": step, **fields}) + "\n")


def _consent_facts(page: Page) -> dict[str, object]:
    """What the consent page tells the user: tenant, user, granted scopes."""
    return {
        "tenant": page.tenant,
        "signed_in_as": page.details.get("Signed in as"),
        "granted_scopes": page.granted_scopes,
    }


def sign_in_and_consent(authorize_url: str) -> int:
    """Walk `authorize_url` through the login and consent forms.

    Returns 0 once Claude Code's callback has answered the redirect, 1 when
    the server redirected without the consent page. Raises
    harness.errors.HarnessError on any page that is not the expected next
    step (`main` records it in the report).
    """
    username = os.environ.get("CLAUDE_BROWSER_USERNAME", "alice")
    password = os.environ.get("CLAUDE_BROWSER_PASSWORD", "demo")
    query = query_params(authorize_url)
    _report("opened", url=authorize_url, query=query)

    with httpx2.Client(timeout=TIMEOUT) as browser:
        approval = approve_in_browser(
            browser,
            authorize_url,
            redirect_uri=query.get("redirect_uri", ""),
            username=username,
            password=password,
            step=lambda line: _report("flow", line=line),
        )
        if approval.consent is None:
            _report("no consent form", location=approval.callback)
            return 1
        _report("consent page", **_consent_facts(approval.consent))
        _report("consented", location=approval.callback)
        # The redirect goes to Claude Code's own listener, not to the server.
        callback = browser.get(approval.callback)
    _report("callback", status=callback.status_code)
    return 0 if callback.is_success else 1


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

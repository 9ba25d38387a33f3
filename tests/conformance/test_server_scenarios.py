"""The official MCP conformance suite's server scenarios against a live server.

The suite (tests/conformance/suite.py installs the pinned version) runs one
scenario per test against a real server process, through a loopback proxy
that adds the bearer token (tests/conformance/proxy.py). Only scenarios
that need none of the suite's fixture tools run here.

The token is alice's in tenant-a with `tools:call admin`: the header
scenario calls the first listed tool, `admin_purge`, with no arguments, and
requires a success for headers that agree with the body (whitespace around
them included); without `admin` that is our 403 insufficient_scope. Without
`confirm: true` the call deletes nothing and answers `isError: true`, which
the suite counts as accepted. That headers that disagree are answered 400
-32020 before any step-up 403 is held by tests/mcpserver/test_transport.py.

Every check that fails fails its test, except those the suite marks "Not
testable" (they need its diagnostic tools, which a production server does
not have): those, and checks the suite rates WARNING, are reported as a
pytest warning and in the test's report section (`pytest -rA` shows it,
with the CLI's output).
"""

import json
import warnings
from urllib.parse import urlsplit

import pytest

from tests.conformance.proxy import BearerProxy, bearer_proxy
from tests.conformance.suite import (
    CONFORMANCE_VERSION,
    Check,
    Conformance,
    install_conformance,
)
from tests.live_server import LiveServer, run_live_server

SCENARIOS = [
    "server-initialize",
    "ping",
    "tools-list",
    "dns-rebinding-protection",
    "server-stateless",
    "http-header-validation",
]


class NotTestableChecks(UserWarning):
    """Checks the suite could not run without its tools, or rated WARNING."""


@pytest.fixture(scope="module")
def conformance() -> Conformance:
    return install_conformance()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with run_live_server(tmp_path_factory.mktemp("conformance")) as live:
        yield live


@pytest.fixture(scope="module")
def proxy(server: LiveServer):
    token = server.manage(
        "harness", "--print-token", "--scope", "tools:call admin"
    ).strip()
    with bearer_proxy(urlsplit(server.url).port, token) as running:
        yield running


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_server_scenario_passes_every_testable_check(
    scenario: str,
    conformance: Conformance,
    server: LiveServer,
    proxy: BearerProxy,
    tmp_path,
    request,
):
    checks, output = conformance.run_server_scenario(
        f"{proxy.url}/mcp", scenario, tmp_path
    )
    failed = [check for check in checks if check.failed]

    request.node.add_report_section(
        "call", f"conformance {CONFORMANCE_VERSION} {scenario}", _report(checks)
    )
    request.node.add_report_section("call", "conformance CLI output", output)
    if failed:
        request.node.add_report_section("call", "server log", server.log()[-8000:])
    noteworthy = [
        check for check in checks if check.untestable or check.status == "WARNING"
    ]
    if noteworthy:
        warnings.warn(
            NotTestableChecks(
                f"{scenario}: " + "; ".join(check.describe() for check in noteworthy)
            ),
            stacklevel=1,
        )

    assert checks, f"{scenario} reported no checks:\n{output}"
    assert not failed, f"{scenario} failed:\n" + "\n".join(
        f"- {check.describe()}"
        + (f"\n  details: {json.dumps(check.details)[:2000]}" if check.details else "")
        for check in failed
    )
    assert not proxy.errors, proxy.errors


def _report(checks: list[Check]) -> str:
    """One line per check, its message indented below."""
    lines = []
    for check in checks:
        mark = "NOT TESTABLE" if check.untestable else check.status
        lines.append(f"{mark:12} {check.id} ({check.name})")
        if check.message:
            lines.append(f"{'':12} {check.message}")
    return "\n".join(lines)

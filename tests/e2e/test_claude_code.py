"""Claude Code itself connects to a live server from nothing and calls a tool.

The real CLI (tests/e2e/claude_code.py installs the pinned version) adds the
server, finds it needs authentication, signs in as alice through the real
login and consent forms (tests/e2e/claude_browser.py is its BROWSER),
connects, lists tenant-a's tools and calls `echo` without a model, through
its stream-json control protocol. The server's audit log confirms who
signed in and what was called. Nothing is skipped: no npm, no `script` or
a failed install fails the test with the reason.
"""

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.e2e.claude_code import (
    CLAUDE_CODE_VERSION,
    ClaudeCode,
    ClientMetadataServer,
    install_claude_code,
    serve_client_metadata,
)
from tests.live_server import LiveServer, run_live_server

ALICE_TOOLS = ["admin_purge", "echo", "search_documents"]

AUDIT_ROWS = """
import json, django
django.setup()
from audit.models import AuditEvent
rows = AuditEvent.objects.order_by("occurred_at", "sequence").values(
    "event", "outcome", "user__username", "tenant__slug", "client_id", "tool"
)
print(json.dumps(list(rows)))
"""


@pytest.fixture(scope="module")
def claude_executable():
    if shutil.which("script") is None:
        pytest.fail("`script` (util-linux, Debian package bsdutils) is not on PATH")
    return install_claude_code()


@pytest.fixture(params=["cimd", "dcr"])
def registration(request) -> str:
    """How Claude Code gets its client_id.

    `cimd`: the server advertises client ID metadata documents, so Claude
    Code's client_id is its document's URL, which the server fetches (a
    local copy here). `dcr`: the server does not (OAUTH_CIMD_ENABLED=false,
    as on a server with no route out), so Claude Code registers at
    /register.
    """
    return request.param


@pytest.fixture
def client_metadata(registration: str) -> Iterator[ClientMetadataServer | None]:
    if registration == "dcr":
        yield None
        return
    with serve_client_metadata() as document:
        yield document


@pytest.fixture
def server(tmp_path, registration: str) -> Iterator[LiveServer]:
    settings = {"DJANGO_SETTINGS_MODULE": "tests.e2e.claude_code_settings"}
    if registration == "dcr":
        settings["OAUTH_CIMD_ENABLED"] = "false"
    (tmp_path / "server").mkdir()
    with run_live_server(tmp_path / "server", extra_env=settings) as live:
        yield live


@pytest.fixture
def claude(tmp_path, claude_executable, client_metadata) -> ClaudeCode:
    """A Claude Code user with a fresh HOME (using the local metadata copy)."""
    extra_env = {}
    if client_metadata is not None:
        extra_env["MCP_OAUTH_CLIENT_METADATA_URL"] = client_metadata.client_id
    return ClaudeCode(claude_executable, tmp_path / "claude", extra_env=extra_env)


@contextmanager
def _diagnostics_on_failure(claude: ClaudeCode, server: LiveServer) -> Iterator[None]:
    """On any failure, show what the CLI, the browser and the server saw."""
    try:
        yield
    except Exception as exc:
        # pytest prints the notes with the failure.
        exc.add_note(claude.diagnostics())
        exc.add_note("== server log\n" + server.log())
        raise


def _audit(server: LiveServer) -> list[dict]:
    return json.loads(server.python("-c", AUDIT_ROWS))


def test_claude_code_signs_in_as_alice_and_calls_echo(claude, server, client_metadata):
    with _diagnostics_on_failure(claude, server):
        added = claude.run("mcp", "add", "--transport", "http", "demo", server.mcp_url)
        assert f"Added HTTP MCP server demo with URL: {server.mcp_url}" in added

        before = claude.run("mcp", "get", "demo")
        assert "Status: ! Needs authentication" in before

        login = claude.login("demo", username="alice", password="demo")
        assert 'Authenticated with "demo"' in login

        # What Claude Code asked for, and what the pages showed alice.
        steps = {step["step"]: step for step in claude.browser_steps()}
        query = steps["opened"]["query"]
        client_id = query["client_id"]
        if client_metadata is not None:
            assert client_id == client_metadata.client_id
            assert client_metadata.fetches, "the server never fetched the metadata"
        else:
            assert not client_id.startswith("https://")  # issued by /register
        assert query["resource"] == server.mcp_url
        assert query["code_challenge_method"] == "S256"
        assert query["redirect_uri"].startswith("http://localhost:")
        assert query["redirect_uri"].endswith("/callback")
        assert steps["consent page"]["signed_in_as"] == "alice"
        assert steps["consent page"]["tenant"] == "tenant-a"
        assert sorted(steps["consent page"]["granted_scopes"]) == [
            "admin",
            "tools:call",
        ]
        assert steps["callback"]["status"] == 200

        listed = claude.run("mcp", "list")
        assert f"demo: {server.mcp_url} (HTTP) - ✔ Connected" in listed
        after = claude.run("mcp", "get", "demo")
        assert "Status: ✔ Connected" in after

        with claude.control() as session:
            initialized = session.request("initialize")
            assert initialized["subtype"] == "success", initialized
            assert initialized["response"]["claude_code_version"] == CLAUDE_CODE_VERSION
            # Offline, with no Anthropic login of any kind.
            assert initialized["response"]["account"]["tokenSource"] == "none"

            demo = session.wait_for_server("demo")
            assert demo["status"] == "connected", demo
            assert demo["serverInfo"]["name"] == "mcp-oauth-django"
            assert sorted(tool["name"] for tool in demo["tools"]) == ALICE_TOOLS

            echoed = session.request(
                "mcp_call", tool="mcp__demo__echo", arguments={"message": "hi"}
            )
            assert echoed["subtype"] == "success", echoed
            assert echoed["response"]["content"] == [{"type": "text", "text": "hi"}]

            # tenant-b's tool does not exist for alice, in Claude Code either.
            refused = session.request(
                "mcp_call",
                tool="mcp__demo__export_report",
                arguments={"reportId": "r1"},
            )
            assert refused == {
                "subtype": "error",
                "request_id": refused["request_id"],
                "error": "Unknown tool: export_report",
            }

        rows = _audit(server)
        consent = [row for row in rows if row["event"] == "consent_granted"]
        assert [
            (r["user__username"], r["tenant__slug"], r["client_id"]) for r in consent
        ] == [("alice", "tenant-a", client_id)]
        registered = [
            row["client_id"] for row in rows if row["event"] == "client_registered"
        ]
        assert registered == ([client_id] if client_metadata is None else [])
        calls = [row for row in rows if row["event"].startswith("tool_")]
        assert [(r["event"], r["tool"], r["user__username"]) for r in calls] == [
            ("tool_called", "echo", "alice"),
            ("tool_denied", "export_report", "alice"),
        ]

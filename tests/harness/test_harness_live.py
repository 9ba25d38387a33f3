"""`manage.py harness` against a real server: the commands the README promises.

The README's commands run as a user runs them (a subprocess of manage.py,
real argv and exit code); the other cases call the same command in-process
(`call_command`, which raises CommandError with the exit code), which saves
a process start each. Exit codes: 0 success, 1 tool error, 2 usage, 3
denied, 4 authentication failed, 5 server unreachable.
"""

import json
import subprocess
from dataclasses import dataclass
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.live_server import LiveServer, free_port, run_live_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with run_live_server(tmp_path_factory.mktemp("harness-live")) as live:
        yield live


def harness(server: LiveServer, *args: str) -> subprocess.CompletedProcess:
    """Run `manage.py harness ARGS` as a process, with the server's environment."""
    return server.run("manage.py", "harness", *args)


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


def in_process(server: LiveServer, *args: str) -> Run:
    """Run the harness command in this process against `server`."""
    out, err = StringIO(), StringIO()
    if "--url" not in args:
        args = ("--url", server.mcp_url, *args)
    try:
        call_command("harness", *args, stdout=out, stderr=err)
    except CommandError as error:
        err.write(str(error))
        return Run(error.returncode, out.getvalue(), err.getvalue())
    return Run(0, out.getvalue(), err.getvalue())


def test_echo_in_tenant_a_signs_in_as_alice_and_answers_hi(server):
    run = harness(
        server, "--tenant", "tenant-a", "--tool", "echo", "--args", '{"message":"hi"}'
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "alice in tenant-a, granted: tools:call"
    assert lines[1] == "tools: admin_purge (needs admin), echo, search_documents"
    assert lines[-1] == "hi"


def test_export_report_in_tenant_b_prints_the_report(server):
    run = harness(
        server,
        "--tenant",
        "tenant-b",
        "--tool",
        "export_report",
        "--args",
        '{"reportId":"r1"}',
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0].startswith("carol in tenant-b")
    report = json.loads(run.stdout.splitlines()[-1])
    assert report["id"] == "r1"
    assert report["title"] == "Monthly revenue"
    assert len(report["rows"]) == 3


def test_export_report_in_tenant_a_is_denied_as_an_unknown_tool(server):
    run = harness(
        server,
        "--tenant",
        "tenant-a",
        "--tool",
        "export_report",
        "--args",
        '{"reportId":"r1"}',
    )
    assert run.returncode == 3
    assert "denied: Unknown tool: export_report" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert "export_report" not in run.stdout.splitlines()[1]  # not listed either


def test_alice_purges_with_the_admin_scope_and_bob_is_denied(server):
    args = (
        "--tenant",
        "tenant-a",
        "--tool",
        "admin_purge",
        "--args",
        '{"confirm":true}',
        "--scope",
        "tools:call admin",
    )
    bob = harness(server, *args, "--user", "bob")
    assert bob.returncode == 3
    assert "insufficient scope: admin_purge needs 'admin tools:call'" in bob.stderr
    assert "role does not include admin" in bob.stderr
    alice = harness(server, *args)
    assert alice.returncode == 0, alice.stderr
    assert (
        alice.stdout.splitlines()[0] == "alice in tenant-a, granted: admin tools:call"
    )
    assert alice.stdout.splitlines()[-1] == "Deleted 3 documents."
    server.manage("seed_demo")  # the documents come back for other tests


def test_without_the_admin_scope_alice_is_told_to_ask_for_it(server):
    run = harness(
        server,
        "--tenant",
        "tenant-a",
        "--tool",
        "admin_purge",
        "--args",
        '{"confirm":true}',
    )
    assert run.returncode == 3
    assert '--scope "admin tools:call"' in run.stderr


def test_verbose_prints_every_step_of_the_flow_on_stderr(server):
    run = harness(server, "--tool", "echo", "--args", '{"message":"x"}', "-v")
    assert run.returncode == 0, run.stderr
    steps = run.stderr
    for expected in (
        "without a token -> 401, resource_metadata=",
        "oauth-protected-resource/mcp -> resource " + server.mcp_url,
        "PKCE S256",
        "/register -> client_id",
        "-> login form",
        "as alice -> signed in",
        "consent: alice in tenant-a, grants tools:call -> Allow",
        "state matches, iss matches the issuer",
        "JWT verified against the JWKS",
        "tools/list -> 3 tools",
        "tools/call echo -> result",
    ):
        assert expected in steps
    assert run.stdout.splitlines()[-1] == "x"


def test_a_user_with_two_tenants_chooses_one_with_tenant(server):
    run = harness(
        server,
        "--user",
        "dave",
        "--tenant",
        "tenant-b",
        "--scope",
        "tools:call admin",
        "--json",
        "-v",
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["ok"] is True
    assert report["tenant"] == "tenant-b"
    assert report["scopes"] == ["admin", "tools:call"]  # an admin in tenant-b
    assert [t["name"] for t in report["tools"]] == [
        "echo",
        "export_report",
        "search_documents",
    ]
    assert "tenant chooser offers tenant-a, tenant-b -> chose tenant-b" in run.stderr


def test_a_user_with_two_tenants_must_say_which(server):
    run = in_process(server, "--user", "dave")
    assert run.returncode == 2
    assert "dave belongs to several tenants (tenant-a, tenant-b)" in run.stderr


def test_a_wrong_password_fails_authentication(server):
    run = in_process(server, "--user", "alice", "--password", "wrong")
    assert run.returncode == 4
    assert "authentication failed: alice:" in run.stderr


def test_a_tenant_the_user_is_not_in_fails_authentication(server):
    run = in_process(server, "--user", "carol", "--tenant", "tenant-a")
    assert run.returncode == 4
    assert "carol belongs to tenant-b, not tenant-a" in run.stderr


def test_a_url_that_is_not_the_servers_resource_is_refused_with_the_fix(server):
    url = server.mcp_url.replace("localhost", "127.0.0.1")
    run = in_process(server, "--url", url)
    assert run.returncode == 4
    assert f"connect to {server.mcp_url}" in run.stderr


def test_bad_tool_arguments_are_a_usage_error(server):
    bad_json = in_process(server, "--tool", "echo", "--args", "{nope")
    assert bad_json.returncode == 2
    assert "--args is not JSON" in bad_json.stderr
    schema = in_process(server, "--tool", "echo", "--args", '{"msg": 1}')
    assert schema.returncode == 2
    assert "'message' is a required property" in schema.stderr


def test_a_tool_error_result_is_shown_and_exits_1(server):
    run = harness(
        server,
        "--tenant",
        "tenant-b",
        "--tool",
        "export_report",
        "--args",
        '{"reportId":"r9"}',
        "--json",
    )
    assert run.returncode == 1
    report = json.loads(run.stdout)
    assert report["ok"] is False
    assert report["result"] == {
        "is_error": True,
        "text": "no such report: r9",
        "structured": None,
    }


def test_an_unreachable_server_exits_5(server):
    run = in_process(server, "--url", f"http://127.0.0.1:{free_port()}/mcp")
    assert run.returncode == 5
    assert "server unreachable:" in run.stderr
    assert "Connection refused" in run.stderr

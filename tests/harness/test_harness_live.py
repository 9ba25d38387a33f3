"""`manage.py harness` against a real server: the commands the README promises.

The README's commands run as a user runs them (a subprocess of manage.py,
real argv and exit code); the other cases call the same command in-process
(`call_command`, which raises CommandError with the exit code), which saves
a process start each. Exit codes: 0 success, 1 tool error, 2 usage, 3
denied, 4 authentication failed, 5 server unreachable. The registration
cache lives in a temporary directory (tests/harness/conftest.py); the
tests of the cache itself give each test a directory of its own.
"""

import json
import subprocess
from dataclasses import dataclass, replace
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from harness import flow
from harness.registration_cache import CACHE_DIR_ENV
from tests.live_server import LiveServer, free_port, run_live_server


@pytest.fixture(scope="module")
def server(tmp_path_factory, live_env):
    with run_live_server(
        tmp_path_factory.mktemp("harness-live"), extra_env=live_env
    ) as live:
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
    run = harness(
        server, "--tool", "echo", "--args", '{"message":"x"}', "-v", "--no-cache"
    )
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


def _client_ids(server: LiveServer) -> set[str]:
    """The client_id of every registration in the server's database."""
    out = server.manage(
        "shell",
        "-c",
        "from oauth2_provider.models import get_application_model\n"
        "for client_id in get_application_model().objects.values_list("
        "'client_id', flat=True): print(client_id)",
    )
    return set(out.split())


def _delete_client(server: LiveServer, client_id: str) -> None:
    """Delete a registration in the server's database, as its cleanup would."""
    server.manage(
        "shell",
        "-c",
        "from oauth2_provider.models import get_application_model\n"
        f"get_application_model().objects.filter(client_id={client_id!r}).delete()",
    )


def _cached(directory: Path) -> dict:
    return json.loads((directory / "registrations.json").read_text())


def _client_id(run: Run) -> str:
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)["client_id"]


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty registration cache for this test alone."""
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))
    return tmp_path


def test_runs_reuse_one_registration_per_server_and_user(server, own_cache):
    before = _client_ids(server)
    alice = _client_id(in_process(server, "--json"))
    assert _client_id(in_process(server, "--json")) == alice
    carol = _client_id(in_process(server, "--tenant", "tenant-b", "--json"))
    assert _client_ids(server) - before == {alice, carol}
    [(issuer, users)] = _cached(own_cache).items()
    assert issuer == server.url
    assert users["alice"]["client_id"] == alice
    assert users["carol"]["client_id"] == carol
    for entry in users.values():
        assert set(entry) == {"client_id", "redirect_uri"}
        assert entry["redirect_uri"].startswith("http://127.0.0.1:")


def test_print_token_runs_share_the_cache_across_processes(server, own_cache):
    server = replace(server, env={**server.env, CACHE_DIR_ENV: str(own_cache)})
    before = _client_ids(server)
    for _ in range(2):
        run = harness(server, "--print-token")
        assert run.returncode == 0, run.stderr
    [client_id] = _client_ids(server) - before
    assert _cached(own_cache)[server.url]["alice"]["client_id"] == client_id


def test_a_registration_the_server_deleted_is_replaced_and_the_run_succeeds(
    server, own_cache
):
    old = _client_id(in_process(server, "--json"))
    _delete_client(server, old)
    run = in_process(server, "--tool", "echo", "--args", '{"message":"again"}', "-v")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-1] == "again"
    assert f"no longer knows client_id {old}" in run.stderr
    assert "Invalid client_id" in run.stderr
    new = _cached(own_cache)[server.url]["alice"]["client_id"]
    assert new != old
    assert new in _client_ids(server)
    assert _client_id(in_process(server, "--json")) == new


def test_a_registration_refused_at_the_token_endpoint_is_replaced_once(
    server, own_cache, monkeypatch
):
    old = _client_id(in_process(server, "--json"))
    redeemed_by = []
    redeem = flow.redeem

    def delete_the_client_first(client, code, *, step):
        redeemed_by.append(code.request.client_id)
        if len(redeemed_by) == 1:
            _delete_client(server, code.request.client_id)
        return redeem(client, code, step=step)

    monkeypatch.setattr(flow, "redeem", delete_the_client_first)
    new = _client_id(in_process(server, "--json"))
    assert redeemed_by == [old, new]
    assert new != old
    assert _cached(own_cache)[server.url]["alice"]["client_id"] == new


def test_a_fresh_registration_the_server_refuses_is_not_retried(
    server, own_cache, monkeypatch
):
    deleted = []
    redeem = flow.redeem

    def delete_every_client(client, code, *, step):
        deleted.append(code.request.client_id)
        _delete_client(server, code.request.client_id)
        return redeem(client, code, step=step)

    monkeypatch.setattr(flow, "redeem", delete_every_client)
    run = in_process(server)
    assert run.returncode == 4
    assert "the token endpoint answered HTTP 401: invalid_client" in run.stderr
    assert len(deleted) == 1


def test_no_cache_registers_anew_and_leaves_the_cache_alone(server, own_cache):
    path = own_cache / "registrations.json"
    fresh = _client_id(in_process(server, "--no-cache", "--json"))
    assert not path.exists()
    cached = _client_id(in_process(server, "--json"))
    assert cached != fresh
    contents = path.read_bytes()
    before = _client_ids(server)
    again = _client_id(in_process(server, "--no-cache", "--json"))
    assert _client_ids(server) - before == {again}
    assert again != cached
    assert path.read_bytes() == contents


def test_a_corrupt_cache_is_ignored_noted_under_verbose_and_rewritten(
    server, own_cache
):
    path = own_cache / "registrations.json"
    path.write_text("{not json")
    run = in_process(server, "--json", "-v")
    client_id = _client_id(run)
    assert f"ignoring the registration cache {path}: not JSON" in run.stderr
    assert _cached(own_cache)[server.url]["alice"]["client_id"] == client_id
    path.write_text("[]")
    quiet = in_process(server, "--json")
    assert quiet.returncode == 0
    assert quiet.stderr == ""

"""`manage.py bench` against a real server: measured, compared, checked.

The audit check is the point: the rows the server wrote for the bench's
client during a run must equal the successful calls, read from the
server's database, never assumed.
"""

import json
import subprocess
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.live_server import LiveServer, run_live_server


@pytest.fixture(scope="module")
def server(tmp_path_factory, live_env):
    with run_live_server(
        tmp_path_factory.mktemp("bench-live"), extra_env=live_env
    ) as live:
        yield live


def _run(server: LiveServer, *args: str) -> subprocess.CompletedProcess:
    return server.run(*args)


def test_a_run_reports_its_numbers_and_matching_audit_rows(server):
    run = _run(
        server,
        "manage.py",
        "bench",
        "--concurrency",
        "4",
        "--calls",
        "120",
        "--warmup",
        "10",
        "--json",
    )
    assert run.returncode == 0, run.stderr
    [level] = json.loads(run.stdout)["levels"]
    [ours] = level["targets"]
    assert level["concurrency"] == 4
    assert ours["errors"] == 0
    assert ours["audit_ok"] is True
    [measured] = ours["rounds"]
    assert measured["calls"] == measured["ok"] == measured["audit_rows"] == 120
    assert ours["calls_per_second"] > 0
    assert 0 < ours["p50_ms"] <= ours["p95_ms"] <= ours["p99_ms"]


def test_compare_alternates_and_prints_the_ratio(server):
    token = server.manage("harness", "--print-token").strip()
    run = _run(
        server,
        "manage.py",
        "bench",
        "--concurrency",
        "2",
        "--calls",
        "40",
        "--warmup",
        "0",
        "--rounds",
        "2",
        "--compare",
        server.mcp_url,
        "--compare-token",
        token,
        "--compare-label",
        "again",
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].split()[:3] == ["target", "conc", "calls"]
    ours = next(line for line in lines if line.startswith("this server"))
    theirs = next(line for line in lines if line.startswith("again"))
    assert ours.split()[3] == "80"  # two rounds of 40
    assert "ok (40,40)" in ours
    assert theirs.rstrip().endswith("- (-,-)")  # nothing to check it against
    assert "ratio this server / again" in run.stdout
    assert "medians of 2 alternating runs" in run.stdout


def test_a_sweep_draws_the_plot(server, tmp_path):
    png = tmp_path / "bench.png"
    run = _run(
        server,
        "tests/benchmark.py",
        "1",
        "20",
        "--warmup",
        "0",
        "--sweep",
        "1,2",
        "--plot",
        str(png),
    )
    assert run.returncode == 0, run.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plot: {png}" in run.stdout
    assert [line.split()[2] for line in run.stdout.splitlines()[1:3]] == ["1", "2"]


@pytest.mark.django_db
def test_audit_rows_that_do_not_match_fail_the_run(server):
    """Counted in a database the server does not write to: a mismatch, exit 1."""
    out = StringIO()
    with pytest.raises(CommandError) as failed:
        call_command(
            "bench",
            "--url",
            server.mcp_url,
            "--concurrency",
            "2",
            "--calls",
            "10",
            "--warmup",
            "0",
            stdout=out,
        )
    assert failed.value.returncode == 1
    assert "audit rows differ from successful calls" in str(failed.value)
    assert "MISMATCH (0)" in out.getvalue()


def test_an_unreachable_target_cannot_be_measured(server):
    run = _run(
        server,
        "manage.py",
        "bench",
        "--url",
        "http://127.0.0.1:9/mcp",
        "--token",
        "x.y.z",
        "--no-audit-check",
        "--calls",
        "5",
    )
    assert run.returncode == 5
    assert "cannot measure" in run.stderr

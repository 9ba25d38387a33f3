"""deploy/haproxy.cfg is valid HAProxy, and scripts/cluster.py refuses what
it cannot run, in one line, without starting anything.

The cluster itself runs in tests/cluster/ (PostgreSQL only); these need
neither a database nor a running HAProxy.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from deploy import balancer
from deploy.cluster import refuse_sqlite
from deploy.state import ClusterError

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "cluster.py"


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_haproxy_accepts_the_repositorys_configuration(tmp_path: Path) -> None:
    try:
        balancer.haproxy_binary()
    except FileNotFoundError as error:
        pytest.fail(str(error))
    addresses = balancer.BalancerAddresses(
        "127.0.0.1", 18080, 18081, tmp_path / "haproxy.sock"
    )
    balancer.check_config(addresses)  # raises with haproxy's words if invalid


def test_a_configuration_haproxy_refuses_is_reported_with_its_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "haproxy.cfg"
    broken.write_text("backend b\n    no-such-keyword on\n")
    monkeypatch.setattr(balancer, "CONFIG", broken)
    addresses = balancer.BalancerAddresses("127.0.0.1", 1, 2, tmp_path / "s")
    with pytest.raises(RuntimeError, match="no-such-keyword"):
        balancer.check_config(addresses)


@pytest.mark.parametrize("url", ["sqlite:///db.sqlite3", "", "mysql://localhost/app"])
def test_a_cluster_refuses_any_database_but_postgresql(url: str) -> None:
    with pytest.raises(ClusterError, match="needs PostgreSQL"):
        refuse_sqlite(url)
    assert refuse_sqlite("postgres://h/db") == "postgres://h/db"


def test_up_on_sqlite_exits_1_with_the_reason_in_one_line() -> None:
    result = run_script("up", "--database-url", "sqlite:///db.sqlite3")
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cluster up: a cluster needs PostgreSQL")

"""A live server whose database fails under load answers 503 in time and recovers.

PostgreSQL only (the server reaches its database through a TCP proxy the
test controls, tests/faults/pgproxy.py; the shared cluster is never
touched). Short faults and generous bounds, so a loaded 2-core machine
passes; scripts/fault_db.py runs the long version and prints exact figures.
"""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.load import mint_tokens
from tests.faults.pgproxy import Mode, PgProxy
from tests.faults.scenario import stage_fault
from tests.live_server import LiveServer, run_live_server

pytestmark = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")),
    reason="PostgreSQL: the fault is staged by a proxy in front of it",
)

BOUND = 1.0
SLACK = 4.0  # a loaded machine; without the bound the calls hang for the fault


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    proxy = PgProxy.in_front_of(os.environ["DATABASE_URL"])
    with (
        proxy.running(),
        run_live_server(
            Path(tmp_path_factory.mktemp("faults")),
            host="127.0.0.1",
            database_port=proxy.port,
            extra_env={"MCP_DB_TIMEOUT_SECONDS": str(BOUND)},
        ) as server,
    ):
        yield server, proxy, mint_tokens(server)


@pytest.mark.parametrize(
    ("mode", "latency"),
    [(Mode.REFUSE, 0.0), (Mode.BLACKHOLE, 0.0), (Mode.FORWARD, 3.0)],
    ids=["refused", "black-holed", "slow"],
)
def test_a_database_fault_is_answered_503_in_time_and_healed_at_once(
    proxied: tuple[LiveServer, PgProxy, dict[str, str]], mode: Mode, latency: float
) -> None:
    server, proxy, tokens = proxied

    report = stage_fault(
        server,
        proxy,
        tokens,
        mode=mode,
        latency=latency,
        before=1.0,
        fault=4.0,
        after=4.0,
        concurrency=8,
        prefix=f"fault-{uuid.uuid4().hex[:8]}-",
    )

    summary = "\n".join(report.lines())
    assert report.unaudited == [], summary
    assert report.other_errors == [], summary
    assert report.statuses_during.get("503", 0) > 0, summary
    assert report.slowest_503 < BOUND + SLACK, summary
    assert report.first_ok_after is not None, summary
    assert report.first_ok_after < SLACK, summary
    assert report.last_failure_after is None or report.last_failure_after < SLACK

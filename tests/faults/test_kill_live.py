"""SIGKILL under load: every call the client saw succeed has its audit row.

The server is killed without warning (no drain, no shutdown) while calls
are in flight, then restarted on the same database: each success must be
in the audit log (by request id, tool and arguments), the chains must
verify, and the restarted server must serve. Runs on SQLite and
PostgreSQL (the live server follows DATABASE_URL);
scripts/fault_kill.py is the longer version.
"""

import uuid
from pathlib import Path

from tests.faults.kill import kill_under_load
from tests.faults.load import mint_tokens
from tests.live_server import run_live_server


def test_a_killed_server_lost_no_audit_row_of_a_call_it_answered(
    tmp_path: Path,
) -> None:
    with run_live_server(tmp_path, workers=2, host="127.0.0.1") as server:
        report = kill_under_load(
            server,
            mint_tokens(server),
            seconds_before_kill=3.0,
            concurrency=8,
            prefix=f"kill-{uuid.uuid4().hex[:8]}-",
        )

    summary = "\n".join(report.lines())
    assert report.ok > 0, summary
    assert report.unaudited == [], summary
    assert report.other_errors == [], summary
    assert report.audited >= report.ok, summary
    assert report.verify_ok, summary
    assert report.ok_after_restart == report.calls_after_restart > 0, summary

"""SIGKILL a live server under load; check the audit log against what the client saw.

Starts a live server (tests/live_server.py: its own migrated database,
SQLite or, when DATABASE_URL names PostgreSQL, a throwaway PostgreSQL
database), runs closed-loop `tools/call` load, SIGKILLs every server
process mid-load, restarts it on the same database and prints: the calls
that succeeded, those cut off, the audit rows, every success without its
row (must be none), the restarted server's calls and `audit_verify`.

    .venv/bin/python scripts/fault_kill.py --rounds 3
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python scripts/fault_kill.py

Exit status 1 when a success lacks its row, audit_verify fails or the
restarted server does not serve.
"""

import argparse
import os
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from tests.faults.kill import kill_under_load
from tests.faults.load import mint_tokens
from tests.live_server import run_live_server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0, help="before a kill")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    failed = False
    with (
        tempfile.TemporaryDirectory() as tmp,
        run_live_server(Path(tmp), workers=args.workers, host="127.0.0.1") as server,
    ):
        tokens = mint_tokens(server)
        for round_number in range(1, args.rounds + 1):
            report = kill_under_load(
                server,
                tokens,
                seconds_before_kill=args.seconds,
                concurrency=args.concurrency,
                prefix=f"kill{round_number}-{uuid.uuid4().hex[:6]}-",
            )
            print(f"round {round_number}: " + "\n".join(report.lines()), flush=True)
            if (
                report.unaudited
                or not report.verify_ok
                or report.ok_after_restart != report.calls_after_restart
            ):
                print("  PROBLEM", flush=True)
                failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

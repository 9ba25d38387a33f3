"""Database faults under load: outage (refused, black-holed) and a slow database.

Starts a live server (tests/live_server.py) on a throwaway PostgreSQL
database reached through a TCP proxy this script controls
(tests/faults/pgproxy.py), runs closed-loop `tools/call` load, stages each
fault, lifts it and keeps the load going; prints what the client saw and
checks every successful call against the audit log. The shared PostgreSQL
is never stopped: only the proxy misbehaves.

    .venv/bin/python scripts/fault_db.py                       # all three
    .venv/bin/python scripts/fault_db.py --faults refuse --fault-seconds 25

Exit status 1 when a success lacks its audit row, an answer is neither a
success nor a 503, a 503 took longer than the bound plus --slack, or no call
succeeded within --slack of the database's return.
"""

import argparse
import os
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from tests.faults.load import mint_tokens
from tests.faults.pgproxy import Mode, PgProxy
from tests.faults.scenario import FaultReport, stage_fault
from tests.live_server import run_live_server

FAULTS = {
    "refuse": (Mode.REFUSE, 0.0),
    "blackhole": (Mode.BLACKHOLE, 0.0),
    "slow": (Mode.FORWARD, 3.0),
}


def problems(report: FaultReport, bound: float, slack: float) -> list[str]:
    found = []
    if report.unaudited:
        found.append(f"{len(report.unaudited)} successes without an audit row")
    if report.other_errors:
        found.append(f"{len(report.other_errors)} answers neither ok nor 503")
    if report.slowest_503 > bound + slack:
        found.append(f"a 503 took {report.slowest_503:.2f} s")
    if report.first_ok_after is None or report.first_ok_after > slack:
        found.append("no prompt success after the database returned")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faults", default="refuse,blackhole,slow")
    parser.add_argument("--fault-seconds", type=float, default=10.0)
    parser.add_argument("--before", type=float, default=3.0)
    parser.add_argument("--after", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--latency", type=float, default=3.0, help="slow: s each way")
    parser.add_argument("--bound", type=float, default=2.0, help="MCP_DB_TIMEOUT")
    parser.add_argument("--slack", type=float, default=1.0)
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith(("postgres://", "postgresql://")):
        base = "postgres://postgres@127.0.0.1:5432/postgres"
        os.environ["DATABASE_URL"] = base
    failed = False
    proxy = PgProxy.in_front_of(base)
    with (
        proxy.running(),
        tempfile.TemporaryDirectory() as tmp,
        run_live_server(
            Path(tmp),
            workers=args.workers,
            host="127.0.0.1",
            database_port=proxy.port,
            extra_env={"MCP_DB_TIMEOUT_SECONDS": str(args.bound)},
        ) as server,
    ):
        tokens = mint_tokens(server)
        for name in args.faults.split(","):
            mode, latency = FAULTS[name]
            report = stage_fault(
                server,
                proxy,
                tokens,
                mode=mode,
                latency=args.latency if name == "slow" else latency,
                before=args.before,
                fault=args.fault_seconds,
                after=args.after,
                concurrency=args.concurrency,
                prefix=f"{name}-{uuid.uuid4().hex[:6]}-",
            )
            print("\n".join(report.lines()), flush=True)
            for problem in problems(report, args.bound, args.slack):
                print(f"  PROBLEM: {problem}", flush=True)
                failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Measure how soon an open session-mode SSE stream ends with its token.

Starts one uvicorn in session mode (tests/live_server.py: SQLite, or a
throwaway PostgreSQL database when DATABASE_URL names PostgreSQL) with its
events in Redis (MCP_TEST_EVENT_REDIS_URL, default db 13), then prints:

- the delay from a revocation's commit to the end of an open GET stream of
  that token (`--revocations` streams);
- the delay from a token's `exp` to the end of its open GET stream
  (`--expiries` streams, tokens living 6 s, leeway 0).

    .venv/bin/python scripts/measure_stream_cut.py
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python scripts/measure_stream_cut.py --revocations 20
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def summary(label: str, delays: list[float]) -> str:
    shown = ", ".join(f"{delay:.3f}" for delay in delays)
    return (
        f"{label}: median {statistics.median(delays):.3f} s, "
        f"max {max(delays):.3f} s  [{shown}]"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--revocations", type=int, default=8)
    parser.add_argument("--expiries", type=int, default=4)
    args = parser.parse_args()

    import django

    django.setup()
    from tests.live_server import run_live_server
    from tests.mcpserver import test_sessions_live as live

    env = {
        "MCP_SESSIONS": "true",
        "MCP_EVENT_STORE_URL": live.REDIS_URL,
        "MCP_REVOCATION_POLL_SECONDS": str(live.POLL_SECONDS),
        "MCP_CLOCK_LEEWAY_SECONDS": "0",
    }
    with (
        tempfile.TemporaryDirectory() as tmp,
        run_live_server(Path(tmp), host="127.0.0.1", extra_env=env) as server,
    ):
        revoked = []
        for _ in range(args.revocations):
            minted = live.mint(server)
            stream = live.open_stream(live.session(server, minted["token"]))
            out = server.python("-c", live.REVOKE, minted["jti"])
            committed_at = json.loads(out.splitlines()[-1])["committed_at"]
            revoked.append(stream.result(timeout=30).ended_at - committed_at)
        expired = []
        for _ in range(args.expiries):
            minted = live.mint(server, lifetime=6)
            stream = live.open_stream(live.session(server, minted["token"]))
            ended = stream.result(timeout=30)
            if ended.status != 200 or ended.ended_at is None:
                raise SystemExit(f"the stream did not end at exp: {ended}")
            expired.append(ended.ended_at - minted["exp"])
    print(f"poll interval {live.POLL_SECONDS} s")
    print(summary("revocation commit -> stream end", revoked))
    print(summary("exp -> stream end", expired))


if __name__ == "__main__":
    main()

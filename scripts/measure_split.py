"""Measure a split deployment: revocation delay and JWKS fetches under a flood.

Starts an issuer and a resource server as separate uvicorns on one database
(tests/split/servers.py: SQLite, or a throwaway PostgreSQL database when
DATABASE_URL names PostgreSQL), then prints:

- the delay from a revocation's commit at the issuer to the resource
  server's first 401 for that token (`--revocations` tokens, each polled
  every 10 ms);
- how many times the issuer served its JWKS while `--flood-seconds` of
  tokens with random (forged) `kid`s hit the resource server from 4 threads;
- the issuer's CPU time per second of wall time while an idle resource
  server polls its feed (`--idle-seconds`).

    .venv/bin/python scripts/measure_split.py
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python scripts/measure_split.py --flood-seconds 60
"""

import argparse
import base64
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import httpx2

from tests.live_server import run_live_server
from tests.split.servers import (
    call,
    create_clients,
    mint,
    revoke,
    run_resource_server,
)

JWKS_FETCH = "GET /.well-known/jwks.json"


def _forged(token: str) -> str:
    header, payload, signature = token.split(".")
    fields = json.loads(base64.urlsafe_b64decode(header + "=="))
    fields["kid"] = uuid.uuid4().hex
    encoded = base64.urlsafe_b64encode(json.dumps(fields).encode()).rstrip(b"=")
    return ".".join([encoded.decode(), payload, signature])


def revocation_delays(issuer, rs, count: int) -> list[float]:
    delays = []
    for _ in range(count):
        minted = mint(issuer, rs.mcp_url)
        if call(rs.mcp_url, minted["token"]).status_code != 200:
            raise RuntimeError("the resource server refused a fresh token")
        committed_at = revoke(issuer, minted["claims"]["jti"])
        while call(rs.mcp_url, minted["token"]).status_code == 200:
            time.sleep(0.01)
        delays.append(time.time() - committed_at)
    return delays


def flood(issuer, rs, seconds: float) -> tuple[int, int, float]:
    """(JWKS fetches seen by the issuer, requests sent, seconds)."""
    token = mint(issuer, rs.mcp_url)["token"]
    before = issuer.log().count(JWKS_FETCH)
    started = time.monotonic()

    def worker(_: int) -> int:
        sent = 0
        with httpx2.Client(timeout=10) as client:
            while time.monotonic() - started < seconds:
                response = client.post(
                    rs.mcp_url,
                    json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                    headers={
                        "Authorization": f"Bearer {_forged(token)}",
                        "Accept": "application/json, text/event-stream",
                        "MCP-Protocol-Version": "2025-11-25",
                    },
                )
                if response.status_code != 401:
                    raise RuntimeError(f"a forged kid was answered {response}")
                sent += 1
        return sent

    with ThreadPoolExecutor(max_workers=4) as pool:
        sent = sum(pool.map(worker, range(4)))
    elapsed = time.monotonic() - started
    time.sleep(0.5)
    return issuer.log().count(JWKS_FETCH) - before, sent, elapsed


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cost(issuer, seconds: float) -> float:
    """The issuer's CPU seconds per wall second while the RS only polls."""
    before = cpu_seconds(issuer.process.pid)
    time.sleep(seconds)
    return (cpu_seconds(issuer.process.pid) - before) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--revocations", type=int, default=10)
    parser.add_argument("--flood-seconds", type=float, default=30.0)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp)
        with run_live_server(path, host="127.0.0.1", log_level="info") as issuer:
            credentials = create_clients(issuer)
            with run_resource_server(issuer, credentials, path) as rs:
                time.sleep(2)  # start-up done
                idle = idle_cost(issuer, args.idle_seconds)
                delays = revocation_delays(issuer, rs, args.revocations)
                fetches, sent, elapsed = flood(issuer, rs, args.flood_seconds)
    database = (
        "PostgreSQL" if "postgres" in os.environ.get("DATABASE_URL", "") else "SQLite"
    )
    print(f"database: {database}")
    print(f"issuer CPU while one RS polls its feed: {idle:.3f} s per second")
    print(
        f"revocation delay over {len(delays)} tokens: median "
        f"{statistics.median(delays):.3f} s, max {max(delays):.3f} s"
    )
    print(
        f"forged-kid flood: {sent} requests in {elapsed:.1f} s, all 401; "
        f"JWKS fetches at the issuer: {fetches}"
    )


if __name__ == "__main__":
    main()

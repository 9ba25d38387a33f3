"""Soak: two workers on PostgreSQL with Redis as the cache, mixed load for minutes.

Starts a live server (tests/live_server.py: a throwaway PostgreSQL database,
migrated and seeded; `CACHE_URL` pointing at Redis) with two uvicorn
workers, runs closed-loop `tools/call` load at --concurrency for --minutes
(echo, search_documents and export_report, tenants a and b, each call with
a unique request id), samples each worker's resident memory, then checks:

- every call succeeded (any other answer is an unexpected error);
- the audit log holds exactly one `tool_called` row per successful call
  (the same request ids) and `manage.py audit_verify` passes;
- memory: each worker's RSS after warm-up and at the end.

    .venv/bin/python scripts/soak.py                  # 5 minutes, c=32
    .venv/bin/python scripts/soak.py --minutes 1 --concurrency 8

Exit status 1 on an unexpected error, an audit mismatch or a failed verify.
"""

import argparse
import asyncio
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import httpx2

from tests.faults.kill import descendants
from tests.faults.load import HEADERS, call_tool, mint_tokens, plan_calls
from tests.live_server import LiveServer, run_live_server

AUDITED_IDS = """
import json, sys
import django
django.setup()
from audit.models import AuditEvent
ids = AuditEvent.objects.filter(
    event="tool_called", request_id__startswith=sys.argv[1]
).values_list("request_id", flat=True)
print(json.dumps(list(ids)))
"""


def worker_rss_mib(server: LiveServer) -> dict[int, float]:
    """Resident memory (MiB) of each uvicorn worker process."""
    if server.process is None:
        return {}
    found = {}
    for pid in descendants(server.process.pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        if b"spawn_main" not in cmdline and b"uvicorn" not in cmdline:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                found[pid] = int(line.split()[1]) / 1024
    return found


async def soak(
    server: LiveServer,
    tokens: dict[str, str],
    *,
    seconds: float,
    concurrency: int,
    prefix: str,
    samples: list[tuple[float, dict[int, float]]],
) -> tuple[list[str], Counter, list[float]]:
    """Load for `seconds`; return the ok ids, outcomes and latencies."""
    plan = plan_calls(tokens)
    counter = itertools.count()
    ok_ids: list[str] = []
    outcomes: Counter = Counter()
    latencies: list[float] = []
    end = time.monotonic() + seconds
    limits = httpx2.Limits(max_connections=concurrency)
    async with httpx2.AsyncClient(headers=HEADERS, timeout=60, limits=limits) as client:

        async def loop() -> None:
            while time.monotonic() < end:
                n = next(counter)
                tenant, tool, arguments = plan[n % len(plan)]
                token, request_id = tokens[tenant], f"{prefix}{n}"
                call = await call_tool(
                    client, server.mcp_url, token, request_id, tool, arguments
                )
                latencies.append(call.elapsed)
                if call.ok:
                    ok_ids.append(call.request_id)
                    outcomes["ok"] += 1
                else:
                    outcomes[f"{call.status}: {call.detail[:120]}"] += 1

        async def sample() -> None:
            started = time.monotonic()
            while time.monotonic() < end:
                samples.append((time.monotonic() - started, worker_rss_mib(server)))
                await asyncio.sleep(10)

        await asyncio.gather(sample(), *(loop() for _ in range(concurrency)))
    return ok_ids, outcomes, latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cache-url", default="rediscache://127.0.0.1:6379/13")
    parser.add_argument(
        "--tenant-rate",
        default="100000",
        help="MCP_TENANT_RATE: high, so every call passes the Redis quota check",
    )
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith(("postgres://", "postgresql://")):
        os.environ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/postgres"
    prefix = f"soak-{uuid.uuid4().hex[:6]}-"
    samples: list[tuple[float, dict[int, float]]] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        run_live_server(
            Path(tmp),
            workers=args.workers,
            host="127.0.0.1",
            extra_env={
                "CACHE_URL": args.cache_url,
                "MCP_TENANT_RATE": args.tenant_rate,
            },
        ) as server,
    ):
        tokens = mint_tokens(server)
        started = time.monotonic()
        ok_ids, outcomes, latencies = asyncio.run(
            soak(
                server,
                tokens,
                seconds=args.minutes * 60,
                concurrency=args.concurrency,
                prefix=prefix,
                samples=samples,
            )
        )
        elapsed = time.monotonic() - started
        audited = json.loads(server.python("-c", AUDITED_IDS, prefix).splitlines()[-1])
        verify = server.run("manage.py", "audit_verify", timeout=600)
        final_rss = worker_rss_mib(server)
    calls = sum(outcomes.values())
    errors = {k: v for k, v in outcomes.items() if k != "ok"}
    quantiles = statistics.quantiles(latencies, n=100)
    missing = set(ok_ids) - set(audited)
    extra = set(audited) - set(ok_ids)
    warm = next((rss for at, rss in samples if at >= 30), samples[0][1])
    print(
        f"soak: {args.workers} workers, PostgreSQL, CACHE_URL={args.cache_url}, "
        f"MCP_TENANT_RATE={args.tenant_rate}, c={args.concurrency}, {elapsed:.0f} s"
    )
    print(
        f"  calls {calls} ({calls / elapsed:.0f}/s), ok {outcomes['ok']}, "
        f"unexpected errors {sum(errors.values())} {list(errors.items())[:3]}"
    )
    print(
        f"  latency p50 {quantiles[49] * 1000:.1f} ms, p99 "
        f"{quantiles[98] * 1000:.1f} ms, max {max(latencies) * 1000:.0f} ms"
    )
    print(
        f"  audit rows {len(audited)} for {len(ok_ids)} successful calls: "
        f"{len(missing)} missing, {len(extra)} extra; audit_verify "
        f"{'OK' if verify.returncode == 0 else 'FAILED'}: "
        f"{(verify.stdout.strip().splitlines() or [verify.stderr])[-1][:120]}"
    )
    for pid, end_rss in sorted(final_rss.items()):
        start_rss = warm.get(pid)
        growth = "" if start_rss is None else f", growth {end_rss - start_rss:+.1f} MiB"
        print(
            f"  worker {pid}: RSS after 30 s {start_rss or 0:.1f} MiB, end "
            f"{end_rss:.1f} MiB{growth}"
        )
    print(
        "  RSS samples (s: MiB per worker): "
        + "; ".join(
            f"{at:.0f}: " + "/".join(f"{v:.0f}" for _, v in sorted(rss.items()))
            for at, rss in samples[:: max(1, len(samples) // 8)]
        )
    )
    failed = errors or missing or extra or verify.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

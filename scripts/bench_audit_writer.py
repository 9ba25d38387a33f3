"""The audit writer alone: events/s and CPU per event, no HTTP, no MCP.

    DATABASE_URL=sqlite:///.cache/writer.sqlite3 .venv/bin/python manage.py migrate
    DATABASE_URL=sqlite:///.cache/writer.sqlite3 .venv/bin/python manage.py seed_demo
    DATABASE_URL=sqlite:///.cache/writer.sqlite3 \\
        .venv/bin/python scripts/bench_audit_writer.py --events 20000

Drives `audit.writer.write` from `--concurrency` coroutines on one uvloop
loop, as the MCP app does, and prints events/s, the process's CPU per event
(event loop and writer thread together: `time.process_time`) and the mean
batch size. Use it to see what a change to the writer costs before
measuring the whole server (scripts/bench_targets.py). It appends real
rows to the database it is given: use a scratch one.
"""

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

import uvloop  # noqa: E402
from django.db import connections  # noqa: E402

from accounts.models import User  # noqa: E402
from audit import writer  # noqa: E402
from tenants.models import Tenant  # noqa: E402


async def _run(fields: dict, events: int, concurrency: int) -> None:
    async def caller(count: int) -> None:
        for _ in range(count):
            await writer.write(fields)

    await caller(200)  # warm up: connection, chain head, statement cache
    writer.reset_stats()
    cpu, wall = time.process_time(), time.perf_counter()
    per_caller = events // concurrency
    await asyncio.gather(*(caller(per_caller) for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    done = per_caller * concurrency
    stats = writer.stats()
    print(
        f"events/s={done / wall:.0f} cpu_us_per_event={cpu / done * 1e6:.1f} "
        f"mean_batch={stats.events_written / stats.transactions_committed:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    if args.concurrency < 1 or args.events < args.concurrency:
        parser.error("--concurrency must be at least 1 and at most --events")
    fields = {
        "event": "tool_called",
        "outcome": "ok",
        "tenant_id": Tenant.objects.get(slug="tenant-a").pk,
        "user_id": User.objects.get(username="alice").pk,
        "client_id": "bench-audit-writer",
        "tool": "echo",
        "arguments": {"message": "hello"},
        "request_id": "1",
        "duration_ms": 0.5,
    }
    connections.close_all()  # the writer thread opens its own
    try:
        uvloop.run(_run(fields, args.events, args.concurrency))
    finally:
        writer.stop()


if __name__ == "__main__":
    main()

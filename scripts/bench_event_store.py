"""What storing SSE events for resumption costs: Redis beside memory.

Stores `--events` events (a small tools/call result each) through the
per-session store of mcpserver/event_store.py, one await at a time as the
SDK's message router does, then replays them; prints microseconds per event
for the memory log and for Redis (MCP_TEST_EVENT_REDIS_URL, default db 13)
side by side, their ratio, and a PING's round trip for scale.

    .venv/bin/python scripts/bench_event_store.py --events 5000
"""

import argparse
import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

REDIS_URL = os.environ.get("MCP_TEST_EVENT_REDIS_URL", "redis://127.0.0.1:6379/13")


async def measure(stores, events: int) -> tuple[float, float]:
    """(µs per store, µs per replayed event) on one session's stream."""
    from mcp.server.auth.middleware.bearer_auth import AuthorizationContext
    from mcp_types import jsonrpc_message_adapter

    owner = AuthorizationContext(client_id="bench", issuer="bench", subject="1@1")
    store = stores.for_session(uuid.uuid4().hex, owner)
    message = jsonrpc_message_adapter.validate_python(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "result": {"content": [{"type": "text", "text": "x" * 200}]},
        }
    )
    first = await store.store_event("1", None)
    started = time.perf_counter()
    for _ in range(events):
        await store.store_event("1", message)
    stored = time.perf_counter() - started
    replayed = 0

    async def count(_event) -> None:
        nonlocal replayed
        replayed += 1

    started = time.perf_counter()
    await store.replay_events_after(first, count)
    replay = time.perf_counter() - started
    if replayed != events:
        raise SystemExit(f"replayed {replayed} of {events} events")
    await stores.close()
    return stored / events * 1e6, replay / events * 1e6


async def redis_ping(count: int) -> float:
    """µs per PING on the same Redis: the floor of any one-round-trip call."""
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    await client.ping()
    started = time.perf_counter()
    for _ in range(count):
        await client.ping()
    elapsed = time.perf_counter() - started
    await client.aclose()
    return elapsed / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    args = parser.parse_args()

    import django

    django.setup()
    from mcpserver.event_log import MemoryEventLog, RedisEventLog
    from mcpserver.event_store import EventStores

    def memory() -> EventStores:
        log = MemoryEventLog(ttl=300, cap=args.events + 1)
        return EventStores(log, kind="memory")

    def redis() -> EventStores:
        log = RedisEventLog.connect(REDIS_URL, ttl=300, cap=args.events + 1, timeout=2)
        return EventStores(log, kind="redis")

    memory_store, memory_replay = asyncio.run(measure(memory(), args.events))
    redis_store, redis_replay = asyncio.run(measure(redis(), args.events))
    ping = asyncio.run(redis_ping(args.events))
    print(f"{args.events} events, one stream")
    print(f"{'':8}{'store µs/event':>16}{'replay µs/event':>17}")
    print(f"{'memory':8}{memory_store:16.1f}{memory_replay:17.1f}")
    print(f"{'redis':8}{redis_store:16.1f}{redis_replay:17.1f}")
    print(f"{'ping':8}{ping:16.1f}   (one Redis round trip, for scale)")
    print(
        f"redis/memory: store {redis_store / memory_store:.1f}x, "
        f"replay {redis_replay / memory_replay:.1f}x"
    )


if __name__ == "__main__":
    main()

"""The per-session SSE event store, on Redis (db 13 by default) and memory.

What a resuming client would notice: it gets exactly its own stream's
events after the id it presents; another session's id, an expired id or
one pushed out by the per-stream cap replays nothing; a Redis outage
leaves events unstored (no id) without raising, logged once.
"""

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from importlib.metadata import version

import pytest
from mcp.server.auth.middleware.bearer_auth import AuthorizationContext
from mcp.server.streamable_http import EventMessage, StreamableHTTPServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp_types import JSONRPCMessage, JSONRPCNotification, jsonrpc_message_adapter

from mcpserver import event_store
from mcpserver.event_log import MemoryEventLog, RedisEventLog
from mcpserver.event_store import NO_EVENT_ID, EventStores
from mcpserver.session_manager import READ_AGAINST_MCP_VERSION
from tests.faults.pgproxy import Mode, PgProxy

REDIS_URL = os.environ.get("MCP_TEST_EVENT_REDIS_URL", "redis://127.0.0.1:6379/13")

OWNER = AuthorizationContext(
    client_id="client-a", issuer="http://localhost:8000", subject="7@1"
)


def note(n: int) -> JSONRPCMessage:
    return jsonrpc_message_adapter.validate_python(
        {"jsonrpc": "2.0", "method": "notifications/message", "params": {"n": n}}
    )


async def replayed(store: event_store.SessionEventStore, last: str) -> tuple:
    """(stream id, [n of each replayed notification]) for `last`."""
    got: list[EventMessage] = []

    async def collect(event: EventMessage) -> None:
        got.append(event)

    stream = await store.replay_events_after(last, collect)
    numbers = []
    for event in got:
        assert isinstance(event.message, JSONRPCNotification)
        numbers.append(event.message.params["n"])
    return stream, numbers


@pytest.fixture(params=["memory", "redis"])
async def make_stores(request) -> AsyncIterator:
    made: list[EventStores] = []

    def make(*, ttl: float = 60, cap: int = 100) -> EventStores:
        if request.param == "memory":
            stores = EventStores(MemoryEventLog(ttl=ttl, cap=cap), kind="memory")
        else:
            log = RedisEventLog.connect(REDIS_URL, ttl=ttl, cap=cap, timeout=2)
            stores = EventStores(log, kind="redis")
        made.append(stores)
        return stores

    yield make
    for stores in made:
        await stores.close()


def session() -> str:
    return uuid.uuid4().hex


async def test_reconnect_replays_exactly_the_missed_events_of_its_stream(make_stores):
    store = make_stores().for_session(session(), OWNER)
    priming = await store.store_event("1", None)
    first = await store.store_event("1", note(1))
    await store.store_event("_GET_stream", note(99))
    await store.store_event("1", note(2))
    await store.store_event("1", note(3))

    assert await replayed(store, first) == ("1", [2, 3])
    # From the priming cursor: everything, the cursor itself not replayed.
    assert await replayed(store, priming) == ("1", [1, 2, 3])


async def test_another_sessions_event_id_replays_nothing(make_stores):
    stores = make_stores()
    mine = stores.for_session(session(), OWNER)
    theirs = stores.for_session(session(), OWNER)
    # Same SDK stream id in both sessions: the SDK names streams by request id.
    their_first = await theirs.store_event("1", note(1))
    await theirs.store_event("1", note(2))
    await mine.store_event("1", note(10))

    assert await replayed(mine, their_first) == (None, [])
    assert await replayed(theirs, their_first) == ("1", [2])


async def test_the_same_session_id_under_another_tenant_replays_nothing(make_stores):
    stores = make_stores()
    session_id = session()
    first = await stores.for_session(session_id, OWNER).store_event("1", note(1))
    await stores.for_session(session_id, OWNER).store_event("1", note(2))
    other_tenant = AuthorizationContext(
        client_id="client-a", issuer="http://localhost:8000", subject="7@2"
    )

    assert await replayed(stores.for_session(session_id, other_tenant), first) == (
        None,
        [],
    )


async def test_event_ids_are_unguessable_and_malformed_ones_replay_nothing(
    make_stores, caplog
):
    store = make_stores().for_session(session(), OWNER)
    one = await store.store_event("1", note(1))
    two = await store.store_event("2", note(2))
    token_one, token_two = one.split("_")[0], two.split("_")[0]
    position = one.split("_")[1]

    assert len(token_one) == 32
    assert token_one != token_two
    bogus_ids = [
        "",
        "_",
        "x",
        token_one,
        f"{token_one}_",
        f"{token_one}_x",
        f"{token_one}_{position}-",
        f"{token_one}_({position}",
        f"{token_one.upper()}_{position}",
        "a" * 200,
        "0" * 32 + "_1",
    ]
    with caplog.at_level(logging.WARNING, logger="mcpserver.event_store"):
        for bogus in bogus_ids:
            assert await replayed(store, bogus) == (None, [])
    # A malformed id is not mistaken for an outage of the log.
    assert caplog.records == []
    assert await replayed(store, one) == ("1", [])


async def test_events_expire_after_the_ttl(make_stores):
    store = make_stores(ttl=0.3).for_session(session(), OWNER)
    first = await store.store_event("1", note(1))
    await store.store_event("1", note(2))
    assert await replayed(store, first) == ("1", [2])

    await asyncio.sleep(0.5)

    assert await replayed(store, first) == (None, [])


async def test_each_stream_keeps_only_its_newest_events(make_stores):
    store = make_stores(cap=3).for_session(session(), OWNER)
    ids = [await store.store_event("1", note(n)) for n in range(1, 6)]

    # Events 1 and 2 were pushed out: replaying after 1 would skip 2 unseen.
    assert await replayed(store, ids[0]) == (None, [])
    assert await replayed(store, ids[2]) == ("1", [4, 5])


async def test_memory_log_drops_idle_sessions_whole():
    log = MemoryEventLog(ttl=0.2, cap=10)
    stores = EventStores(log, kind="memory")
    for _ in range(50):
        await stores.for_session(session(), OWNER).store_event("1", note(1))
    await asyncio.sleep(0.3)
    await stores.for_session(session(), OWNER).store_event("1", note(1))

    assert len(log._namespaces) == 1


async def test_memory_log_drops_expired_streams_of_a_busy_session():
    log = MemoryEventLog(ttl=0.2, cap=10)
    store = EventStores(log, kind="memory").for_session(session(), OWNER)
    for request_id in range(20):
        await store.store_event(str(request_id), note(request_id))
    await asyncio.sleep(0.3)
    await store.store_event("20", note(20))

    (space,) = log._namespaces.values()
    assert len(space.streams) == 1


async def test_redis_keys_of_a_stream_expire_with_its_events():
    log = RedisEventLog.connect(REDIS_URL, ttl=0.3, cap=10, timeout=2)
    namespace = uuid.uuid4().hex
    await log.append(namespace, "1", b"{}")
    keys = await log._client.keys(f"mcp:events:{namespace}:*")
    assert len(keys) == 1
    await asyncio.sleep(0.5)
    assert await log._client.exists(*keys) == 0
    await log.close()


@pytest.fixture
def redis_proxy() -> Iterator[PgProxy]:
    host, port = REDIS_URL.split("//")[1].split("/")[0].split(":")
    with PgProxy(host, int(port)).running() as proxy:
        yield proxy


@pytest.mark.parametrize("mode", [Mode.REFUSE, Mode.BLACKHOLE])
async def test_redis_outage_leaves_events_unstored_logged_once_then_recovers(
    redis_proxy, mode, caplog, monkeypatch
):
    monkeypatch.setattr(event_store, "RETRY_SECONDS", 0.2)
    database = REDIS_URL.rsplit("/", 1)[1]
    url = f"redis://127.0.0.1:{redis_proxy.port}/{database}"
    stores = EventStores(
        RedisEventLog.connect(url, ttl=60, cap=100, timeout=0.3), kind="redis"
    )
    store = stores.for_session(session(), OWNER)
    before = await store.store_event("1", note(1))
    assert before != NO_EVENT_ID

    redis_proxy.set_mode(mode)
    with caplog.at_level(logging.WARNING, logger="mcpserver.event_store"):
        during = [await store.store_event("1", note(n)) for n in range(2, 6)]
        assert await replayed(store, before) == (None, [])
        await asyncio.sleep(0.25)
        assert await store.store_event("1", note(6)) == NO_EVENT_ID
        redis_proxy.set_mode(Mode.FORWARD)
        await asyncio.sleep(0.25)
        after = await store.store_event("1", note(7))
        await store.store_event("1", note(8))

    assert during == [NO_EVENT_ID] * 4
    failures = [r for r in caplog.records if "failed" in r.getMessage()]
    recoveries = [r for r in caplog.records if "recovered" in r.getMessage()]
    assert len(failures) == 1
    assert len(recoveries) == 1
    # What was stored before and after the outage is still there; what the
    # outage left unstored (sent live without an id) is not replayed. In a
    # partition the first write, timed out in flight, lands when it heals.
    landed = [2] if mode is Mode.BLACKHOLE else []
    assert await replayed(store, before) in (("1", [7, 8]), ("1", [*landed, 7, 8]))
    assert await replayed(store, after) == ("1", [8])
    await stores.close()


def test_session_manager_private_names_match_the_version_read():
    """mcpserver/session_manager.py extends private SDK names: re-read them."""
    assert version("mcp") == READ_AGAINST_MCP_VERSION
    assert hasattr(StreamableHTTPSessionManager, "_admit_session")
    transport = StreamableHTTPServerTransport(mcp_session_id="x")
    assert hasattr(transport, "_event_store")

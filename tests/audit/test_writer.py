"""The group-commit audit writer, in process and behind two uvicorn workers.

Every test runs on a transactional database: the writer commits from its
own database threads, and a caller must see its row committed.
"""

import asyncio
import contextlib
import json
import logging
import threading
import time
import types
from collections.abc import Callable, Coroutine, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from io import StringIO
from pathlib import Path
from typing import Any

import httpx2
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.management import call_command
from django.db import (
    DatabaseError,
    IntegrityError,
    OperationalError,
    connection,
    transaction,
)

from audit import writer
from audit.models import AuditChain, AuditEvent
from audit.services import PendingEvent
from audit.writer import MAX_BATCH, AuditWriter
from mcpserver.db import DatabaseUnavailable, run_db
from tests.factories import TenantFactory
from tests.live_server import LiveServer, run_live_server
from tests.mcpserver.conftest import (
    Demo,
    call_params,
    demo,  # noqa: F401 (a fixture)
    post_rpc,
    running_app,
)
from tests.mcpserver.test_live import SETUP

pytestmark = pytest.mark.django_db(transaction=True)

REFUSE_INSERTS = {
    "sqlite": [
        """CREATE TRIGGER audit_refuse_insert BEFORE INSERT ON audit_auditevent
        BEGIN SELECT RAISE(ABORT, 'the audit store refuses writes'); END""",
    ],
    "postgresql": [
        """CREATE FUNCTION audit_refuse_insert() RETURNS trigger AS $$
        BEGIN RAISE EXCEPTION 'the audit store refuses writes'; END;
        $$ LANGUAGE plpgsql""",
        """CREATE TRIGGER audit_refuse_insert BEFORE INSERT ON audit_auditevent
        FOR EACH ROW EXECUTE FUNCTION audit_refuse_insert()""",
    ],
}
ALLOW_INSERTS = {
    "sqlite": ["DROP TRIGGER audit_refuse_insert"],
    "postgresql": [
        "DROP TRIGGER audit_refuse_insert ON audit_auditevent",
        "DROP FUNCTION audit_refuse_insert()",
    ],
}


def _fields(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "event": AuditEvent.Event.TOOL_CALLED,
        "tool": "echo",
        "arguments": {"message": f"m{n}"},
        "request_id": f"req-{n}",
        **extra,
    }


def _stored_request_ids() -> list[str]:
    return list(
        AuditEvent.objects.order_by("sequence").values_list("request_id", flat=True)
    )


def _verify() -> str:
    out = StringIO()
    call_command("audit_verify", stdout=out)
    return out.getvalue()


def _execute(statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


@pytest.fixture
def refusing_store() -> Iterator[None]:
    """The database refuses every audit insert (a real database error)."""
    _execute(REFUSE_INSERTS[connection.vendor])
    yield
    _execute(ALLOW_INSERTS[connection.vendor])


@pytest.fixture(autouse=True)
def _fresh_counters() -> None:
    writer.reset_stats()


@contextlib.contextmanager
def _inserts_wait() -> Iterator[Callable[[], None]]:
    """Another connection holds a lock that audit inserts wait for.

    Yields the function that releases it (leaving the block releases it
    too). SQLite: an open write transaction, which the writer meets as
    "database table is locked" and retries; PostgreSQL: a SHARE lock on
    the audit table, which an INSERT waits out.
    """
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                if connection.vendor == "sqlite":
                    cursor.execute(
                        "INSERT INTO audit_auditchain "
                        "(chain_id, last_sequence, last_hash, created_at) "
                        "VALUES ('elsewhere', 0, '', '2026-01-01')"
                    )
                else:
                    cursor.execute("LOCK TABLE audit_auditevent IN SHARE MODE")
                locked.set()
                release.wait(10)
                transaction.set_rollback(True)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(5)
    try:
        yield release.set
    finally:
        release.set()
        holder.join()


@types.coroutine
def _resumptions(
    coroutine: Coroutine[Any, Any, None],
) -> Generator[Any, Any, int]:
    """Await `coroutine`; return how many times it was suspended and resumed."""
    count, sent = 0, None
    while True:
        try:
            awaited = coroutine.send(sent)
        except StopIteration:
            return count
        count += 1
        sent = yield awaited


async def test_concurrent_writes_commit_together_and_verify() -> None:
    async def caller(first: int) -> list[AuditEvent]:
        # Each caller writes in turn, as a client making call after call.
        return [await writer.write(_fields(n)) for n in range(first, first + 5)]

    results = await asyncio.gather(*(caller(first) for first in range(0, 400, 5)))

    stats = writer.stats()
    assert stats.events_written == 400
    assert 1 < stats.transactions_committed < 400
    assert stats.largest_batch <= MAX_BATCH
    returned = {row.request_id for rows in results for row in rows}
    stored = await run_db(_stored_request_ids)
    assert returned == set(stored) == {f"req-{n}" for n in range(400)}
    assert len(stored) == 400
    assert "OK: 1 chains, 400 rows verified." in await run_db(_verify)


async def test_each_caller_gets_its_own_committed_row() -> None:
    rows = await asyncio.gather(*(writer.write(_fields(n)) for n in range(20)))

    assert [row.request_id for row in rows] == [f"req-{n}" for n in range(20)]
    assert [row.sequence for row in rows] == list(range(1, 21))
    head = await run_db(AuditChain.objects.get)
    assert (head.last_sequence, head.last_hash) == (20, rows[-1].hash)


async def test_a_lone_writer_commits_each_event_at_once() -> None:
    """Sequential writes never wait for company: one transaction each."""
    for n in range(5):
        row = await writer.write(_fields(n))
        # Committed: another connection (a database thread) sees it.
        assert await run_db(AuditEvent.objects.filter(pk=row.pk).exists)

    stats = writer.stats()
    assert (stats.events_written, stats.transactions_committed) == (5, 5)


async def test_a_poison_event_fails_only_its_own_caller() -> None:
    tenant = await run_db(TenantFactory)
    fields = [_fields(n, tenant_id=tenant.pk) for n in range(24)]
    fields[9]["tenant_id"] = tenant.pk + 10_000  # no such tenant: an FK violation

    outcomes = await asyncio.gather(
        *(writer.write(f) for f in fields), return_exceptions=True
    )

    assert isinstance(outcomes[9], IntegrityError)
    assert all(isinstance(o, PendingEvent) for i, o in enumerate(outcomes) if i != 9)
    assert all(o.pk for i, o in enumerate(outcomes) if i != 9)
    stored = await run_db(_stored_request_ids)
    assert stored == [f"req-{n}" for n in range(24) if n != 9]
    stats = writer.stats()
    assert (stats.events_written, stats.events_failed) == (23, 1)
    assert "OK: 1 chains, 23 rows verified." in await run_db(_verify)


async def test_a_write_whose_commit_fails_raises_to_its_caller(
    refusing_store: None,
) -> None:
    with pytest.raises(DatabaseError, match="refuses writes"):
        await writer.write(_fields(1))

    assert await run_db(_stored_request_ids) == []
    assert writer.stats().events_failed == 1


async def test_the_store_recovers_after_refusing(refusing_store: None) -> None:
    with pytest.raises(DatabaseError):
        await writer.write(_fields(1))
    await run_db(_execute, ALLOW_INSERTS[connection.vendor])
    try:
        await writer.write(_fields(2))
    finally:
        await run_db(_execute, REFUSE_INSERTS[connection.vendor])

    assert await run_db(_stored_request_ids) == ["req-2"]


async def test_a_cancelled_caller_does_not_lose_its_event() -> None:
    with _inserts_wait() as release:
        calls = [asyncio.create_task(writer.write(_fields(n))) for n in range(1, 6)]
        await asyncio.sleep(0)  # all five handed to the writer thread
        calls[0].cancel()
        await asyncio.sleep(0.05)  # their commit is waiting for the lock
        calls[1].cancel()
        late = asyncio.create_task(writer.write(_fields(6)))
        await asyncio.sleep(0)
        late.cancel()
        release()

        await asyncio.gather(*calls[2:])
        await writer.drain()

    assert [task.cancelled() for task in (calls[0], calls[1], late)] == [True] * 3
    assert sorted(await run_db(_stored_request_ids)) == [
        f"req-{n}" for n in range(1, 7)
    ]
    assert writer.stats().events_written == 6
    assert "OK: 1 chains, 6 rows verified." in await run_db(_verify)


async def test_drain_sleeps_until_the_writer_wakes_it() -> None:
    """No polling: a drain is resumed once, when the last event settles."""
    patient = AuditWriter()
    with _inserts_wait() as release:
        writes = [asyncio.create_task(patient.write(_fields(n))) for n in range(3)]
        await asyncio.sleep(0)
        asyncio.get_running_loop().call_later(0.3, release)
        started = time.monotonic()

        resumed = await _resumptions(patient.drain())

    waited = time.monotonic() - started
    assert resumed == 1
    assert waited >= 0.3
    assert all(write.done() for write in writes)
    await asyncio.to_thread(patient.stop)
    assert await run_db(_stored_request_ids) == ["req-0", "req-1", "req-2"]


async def test_a_drain_that_times_out_logs_what_it_left_uncommitted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    patient = AuditWriter(drain_seconds=0.1)
    with _inserts_wait():
        writes = [asyncio.create_task(patient.write(_fields(n))) for n in range(3)]
        await asyncio.sleep(0)
        with caplog.at_level(logging.WARNING, logger="audit.writer"):
            await patient.drain()

        assert not any(write.done() for write in writes)
    await asyncio.gather(*writes)  # committed once the lock is gone
    await asyncio.to_thread(patient.stop)

    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "3 event(s) not committed" in record.getMessage()


@pytest.fixture
def store_failing_transiently() -> Iterator[None]:
    """Every audit insert fails with an error a retry may cure, until the end.

    SQLite: another connection holds the write lock; PostgreSQL: a trigger
    raises a serialization failure (SQLSTATE 40001).
    """
    if connection.vendor == "sqlite":
        with _inserts_wait():
            yield
        return
    _execute(
        [
            """CREATE FUNCTION audit_serialization_failure() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION 'try again' USING ERRCODE = '40001'; END;
            $$ LANGUAGE plpgsql""",
            """CREATE TRIGGER audit_serialization_failure
            BEFORE INSERT ON audit_auditevent
            FOR EACH ROW EXECUTE FUNCTION audit_serialization_failure()""",
        ]
    )
    yield
    _execute(
        [
            "DROP TRIGGER audit_serialization_failure ON audit_auditevent",
            "DROP FUNCTION audit_serialization_failure()",
        ]
    )


async def test_retries_stop_at_the_deadline_and_fail_the_calls(
    store_failing_transiently: None,
) -> None:
    """Fail closed: a transient failure that persists fails every waiting call."""
    patient = AuditWriter(retry_seconds=0.3)
    started = time.monotonic()

    outcomes = await asyncio.gather(
        *(patient.write(_fields(n)) for n in range(3)), return_exceptions=True
    )

    waited = time.monotonic() - started
    await asyncio.to_thread(patient.stop)
    assert all(isinstance(outcome, OperationalError) for outcome in outcomes)
    assert 0.3 <= waited < 2
    stats = patient.stats()
    assert (stats.events_written, stats.events_failed) == (0, 3)
    # SQLite's lock is tried every 0.1-2 ms, other failures up to 100 ms apart.
    assert stats.retries > (50 if connection.vendor == "sqlite" else 3)
    assert await run_db(_stored_request_ids) == []


async def test_the_writer_state_outlives_an_event_loop() -> None:
    """Module-level state made on one test's loop works on the next one's."""
    await writer.write(_fields(1))

    def on_another_loop() -> AuditEvent:
        return asyncio.run(writer.write(_fields(2)))

    row = await asyncio.to_thread(on_another_loop)

    assert row.sequence == 2
    assert await run_db(_stored_request_ids) == ["req-1", "req-2"]


@pytest.mark.skipif(
    connection.vendor != "sqlite", reason="SQLite: a locked database is retried"
)
async def test_a_locked_database_is_retried() -> None:
    """A batch meeting another writer's lock waits and retries until it commits.

    The test database is SQLite's shared-cache memory database, where a
    lock held elsewhere fails at once ("database table is locked") instead
    of waiting out the busy timeout, so the retry path really runs.
    """
    locked, release = threading.Event(), threading.Event()

    def hold_the_write_lock() -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO audit_auditchain "
                "(chain_id, last_sequence, last_hash, created_at) "
                "VALUES ('elsewhere', 0, '', '2026-01-01')"
            )
            locked.set()
            release.wait(5)
        connection.close()

    holder = threading.Thread(target=hold_the_write_lock)
    holder.start()
    await asyncio.to_thread(locked.wait, 5)
    patient = AuditWriter(retry_seconds=5)
    write = asyncio.create_task(patient.write(_fields(1)))
    await asyncio.sleep(0.1)
    waited = not write.done()
    release.set()

    row = await write
    await asyncio.to_thread(holder.join)
    await asyncio.to_thread(patient.stop)

    assert waited  # nothing could commit while the lock was held
    assert row.sequence == 1
    assert patient.stats().events_failed == 0
    assert await run_db(_stored_request_ids) == ["req-1"]


def _backend_pid() -> int:
    """The PostgreSQL backend of this thread's connection."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


@pytest.fixture
def main_backend_pid() -> int | None:
    """The PostgreSQL backend of the test's own (main-thread) connection."""
    if connection.vendor != "postgresql":
        return None
    return _backend_pid()


@pytest.fixture
def pool_closed_after() -> Iterator[None]:
    """Close the connection pool after the test, dead connections with it.

    A later test must not meet a connection this test had the server kill
    (it would get a 503 from run_db, as a server does once per dead pooled
    connection after a database restart). The next use opens a new pool.
    """
    yield
    connection.close_pool()


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL: lost connections"
)
@pytest.mark.usefixtures("pool_closed_after")
async def test_a_batch_on_a_lost_connection_is_retried(
    main_backend_pid: int,
) -> None:
    """Pooled connections killed by the server (a restart) cost a retry each."""
    await asyncio.gather(*(writer.write(_fields(n)) for n in range(3)))
    # Fill the pool with idle connections, then have the server kill them.
    await asyncio.gather(*(run_db(AuditEvent.objects.count) for _ in range(20)))

    # The async ORM's one thread (sync_to_async) keeps its connection from
    # test to test: spared, or every later async test inherits a dead one.
    async_orm_pid = await sync_to_async(_backend_pid)()

    def terminate_pooled_connections() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() "
                "AND pid NOT IN (pg_backend_pid(), %s, %s)",
                [main_backend_pid, async_orm_pid],
            )
            return cursor.fetchone()[0]

    assert await run_db(terminate_pooled_connections) >= 1
    # Every dead pooled connection may cost one attempt.
    pool_size = settings.DATABASES["default"]["OPTIONS"]["pool"]["max_size"]
    patient = AuditWriter()

    row = await patient.write(_fields(3))
    await asyncio.to_thread(patient.stop)

    assert row.sequence == 4
    assert patient.stats().retries >= 1
    # Plain reads meet the dead connections too (and are not retried): one
    # read per pooled connection takes every dead one out of the pool.
    stored = []
    for _ in range(pool_size + 2):
        with contextlib.suppress(OperationalError, DatabaseUnavailable):
            stored = await run_db(_stored_request_ids)
    assert stored == ["req-0", "req-1", "req-2", "req-3"]


async def test_an_mcp_call_whose_audit_cannot_commit_fails(
    demo: Demo,  # noqa: F811
    refusing_store: None,
) -> None:
    async with running_app():
        token = await demo.atoken("bob")
        reply = await post_rpc(
            token, "tools/call", call_params("echo", message="secret")
        )

    body = reply.json()
    assert "result" not in body
    assert body["error"]["code"] == -32603
    assert "secret" not in reply.text


async def test_the_app_drains_the_writer_at_shutdown(demo: Demo) -> None:  # noqa: F811
    """An event queued by a call cut short still commits when the app stops."""
    async with running_app():
        queued = asyncio.create_task(writer.write(_fields(1)))
        await asyncio.sleep(0)
        queued.cancel()
    # No drain here: the lifespan's shutdown did it.
    assert await run_db(_stored_request_ids) == ["req-1"]


# End to end: two uvicorn workers on one database, hammered concurrently.

CALLS = 400
AUDITED = """
import json
import django
django.setup()
from django.db import connection
from audit.models import AuditEvent
rows = AuditEvent.objects.filter(event="tool_called", request_id__startswith="hammer-")
transactions = None
if connection.vendor == "postgresql":  # xmin: the inserting transaction
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(DISTINCT xmin::text) FROM audit_auditevent "
            "WHERE request_id LIKE 'hammer-%%'"
        )
        transactions = cursor.fetchone()[0]
print(json.dumps({
    "request_ids": list(rows.values_list("request_id", flat=True)),
    "chains": sorted(set(rows.values_list("chain_id", flat=True))),
    "transactions": transactions,
}))
"""


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[LiveServer]:
    with run_live_server(tmp_path, workers=2, host="127.0.0.1") as live:
        yield live


def _hammer(url: str, token: str) -> list[httpx2.Response]:
    """CALLS tools/call from 16 threads, each on a fresh connection.

    Fresh connections (one shared client, `Connection: close`) let the
    kernel spread the calls over both workers.
    """
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2025-11-25",
        "Connection": "close",
    }
    with httpx2.Client(headers=headers, timeout=30) as client:

        def call(n: int) -> httpx2.Response:
            return client.post(
                url,
                json={
                    "jsonrpc": "2.0",
                    "id": f"hammer-{n}",
                    "method": "tools/call",
                    "params": {"name": "echo", "arguments": {"message": f"m{n}"}},
                },
            )

        with ThreadPoolExecutor(max_workers=16) as pool:
            return list(pool.map(call, range(CALLS)))


def test_two_workers_audit_every_concurrent_call(two_workers: LiveServer) -> None:
    token = json.loads(two_workers.python("-c", SETUP).splitlines()[-1])["token"]

    replies = _hammer(two_workers.mcp_url, token)

    assert {reply.status_code for reply in replies} == {200}
    assert all("result" in reply.json() for reply in replies)
    audited = json.loads(two_workers.python("-c", AUDITED).splitlines()[-1])
    assert sorted(audited["request_ids"]) == sorted(f"hammer-{n}" for n in range(CALLS))
    assert len(audited["chains"]) == 2, "both workers should have answered"
    if audited["transactions"] is not None:  # group commit in the real server
        assert audited["transactions"] < CALLS
    report = two_workers.manage("audit_verify")
    for chain in audited["chains"]:
        assert f"chain {chain}: " in report
    assert report.rstrip().endswith("rows verified."), report


async def test_a_head_moved_behind_the_writers_back_is_reread() -> None:
    """A stale remembered head is refused by the database, then re-read."""
    first = await writer.write(_fields(1))

    def append_behind_its_back() -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "UPDATE audit_auditchain SET last_sequence = 7, last_hash = %s "
                "WHERE chain_id = %s",
                ["e" * 64, first.chain_id],
            )

    await run_db(append_behind_its_back)
    second = await writer.write(_fields(2))

    assert second.sequence == 8
    assert second.prev_hash == "e" * 64
    assert writer.stats().retries == 1

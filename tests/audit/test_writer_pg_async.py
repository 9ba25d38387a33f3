"""The PostgreSQL audit writer on the event loop: the writer thread's guarantees.

PostgreSQL only. Every test runs on a transactional database (the writer
commits on a connection of its own) and a writer of its own, so counters
and connections start fresh. Faults on the writer's connection are staged
by a TCP proxy in front of the shared PostgreSQL (tests/faults/pgproxy.py);
the real server is never touched.
"""

import asyncio
import json
import math
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import IntegrityError, OperationalError, connection

from audit import batch_sql, writer
from audit.models import AuditEvent
from audit.services import PendingEvent, chain_events, pending_event
from audit.writer import AuditWriter
from audit.writer_pg_async import MIN_ATTEMPT_SECONDS, PgAsyncWriter
from mcpserver.db import run_db
from tests.audit.test_writer import (
    _fields,
    _inserts_wait,
    _stored_request_ids,
    _verify,
)
from tests.factories import TenantFactory
from tests.faults.pgproxy import Mode, PgProxy

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the PostgreSQL writer"
    ),
]


def _backends(application_name: str) -> int:
    """Open connections to the test database named `application_name`."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = %s",
            [application_name],
        )
        return cursor.fetchone()[0]


async def _backends_soon(application_name: str, expected: int) -> int:
    """`_backends`, once it reads `expected` (a closed connection's server
    process exits a moment after the client let go), or after 5 s."""
    deadline = time.monotonic() + 5
    while True:
        count = await run_db(_backends, application_name)
        if count == expected or time.monotonic() > deadline:
            return count
        await asyncio.sleep(0.05)


def _transactions() -> int:
    """How many transactions inserted the audit rows (xmin)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(DISTINCT xmin::text) FROM audit_auditevent")
        return cursor.fetchone()[0]


@pytest.fixture
def named() -> str:
    """An application name of the writer's connections, for this test only."""
    return f"audit-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def proxy() -> Iterator[PgProxy]:
    db = settings.DATABASES["default"]
    with PgProxy(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)).running() as p:
        yield p


async def _stopped(pg: PgAsyncWriter) -> None:
    await asyncio.to_thread(pg.stop)


def test_postgresql_gets_the_event_loop_writer_unless_told_otherwise(
    settings: Any,
) -> None:
    assert isinstance(writer._process_writer(), PgAsyncWriter)
    settings.MCP_AUDIT_PG_ASYNC = False
    assert isinstance(writer._process_writer(), AuditWriter)


def test_a_batch_is_one_statement_whatever_its_size() -> None:
    """One JSON array of rows: psycopg and PostgreSQL parse the text once."""
    events = [pending_event(**_fields(n)) for n in range(3)]
    chain_events(events, chain_id="host:1/calls", sequence=0, prev_hash="0" * 64)

    one, _ = batch_sql.batch_statement(events[:1], connection)
    three, params = batch_sql.batch_statement(events, connection)

    assert one == three
    [rows] = params
    decoded = json.loads(rows)
    assert [len(row) for row in decoded] == [len(batch_sql.EVENT_FIELDS)] * 3
    sequence = batch_sql.EVENT_FIELDS.index("sequence")
    assert [row[sequence] for row in decoded] == [1, 2, 3]


async def test_every_value_reads_back_exactly_as_hashed() -> None:
    """What the JSON batch carries (times to the microsecond, awkward floats,
    text JSON would escape, absent values) is stored exactly: the rows
    read back equal and `audit_verify` recomputes every hash."""
    pg = PgAsyncWriter()
    tenant = await run_db(TenantFactory)
    odd = [
        {"duration_ms": 0.1},
        {"duration_ms": 1e-05},
        {"duration_ms": 123456789.123},
        {"duration_ms": float("nan")},
        {"duration_ms": float("inf")},
        {"duration_ms": None, "tenant_id": None},
        {"reason": 'quote " backslash \\ newline \n tab \t é 😀 \u2028'},
        {"client_id": "c\x00lient", "arguments": {"k": ["\u0000", 1.5, None]}},
        {"arguments": {"b": 1, "a": {"z": True, "y": "x" * 50}}},
    ]
    fields = [_fields(n, tenant_id=tenant.pk) | extra for n, extra in enumerate(odd)]

    written = await asyncio.gather(*(pg.write(f) for f in fields))
    await _stopped(pg)

    def stored() -> list[tuple[Any, ...]]:
        return list(AuditEvent.objects.order_by("sequence").values_list(*_COMPARED))

    rows = await run_db(stored)
    expected = [tuple(getattr(event, name) for name in _COMPARED) for event in written]
    same = [
        all(
            a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b))
            for a, b in zip(row, want, strict=True)
        )
        for row, want in zip(rows, expected, strict=True)
    ]
    assert same == [True] * len(odd), (rows, expected)
    assert f"OK: 1 chains, {len(odd)} rows verified." in await run_db(_verify)


_COMPARED = (
    "occurred_at",
    "event",
    "outcome",
    "tenant_id",
    "user_id",
    "client_id",
    "tool",
    "arguments",
    "reason",
    "request_id",
    "duration_ms",
    "source_ip",
    "user_agent",
    "chain_id",
    "sequence",
    "prev_hash",
    "hash",
)


async def test_concurrent_writes_are_durable_chained_and_verified(
    named: str,
) -> None:
    pg = PgAsyncWriter(conninfo={"application_name": named})

    async def caller(first: int) -> list[PendingEvent]:
        rows = []
        for n in range(first, first + 5):
            row = await pg.write(_fields(n))
            rows.append(row)
        return rows

    results = await asyncio.gather(*(caller(first) for first in range(0, 400, 5)))
    # Durable when write returned: another connection sees the last rows.
    last = [rows[-1].request_id for rows in results]
    visible = await run_db(_stored_request_ids)
    await _stopped(pg)

    assert set(last) <= set(visible)
    stats = pg.stats()
    assert stats.events_written == 400
    assert 1 < stats.transactions_committed < 400
    assert await run_db(_transactions) == stats.transactions_committed
    returned = {row.request_id for rows in results for row in rows}
    assert returned == set(visible) == {f"req-{n}" for n in range(400)}
    assert len(visible) == 400
    chain = results[0][0].chain_id
    assert chain.endswith("/calls")
    assert "OK: 1 chains, 400 rows verified." in await run_db(_verify)
    assert await _backends_soon(named, 0) == 0  # stop closed the connection


async def test_events_arriving_during_a_commit_form_the_next_batch() -> None:
    pg = PgAsyncWriter()
    with _inserts_wait() as release:
        first = asyncio.create_task(pg.write(_fields(0)))
        await asyncio.sleep(0.1)  # its INSERT waits for the lock
        rest = [asyncio.create_task(pg.write(_fields(n))) for n in range(1, 11)]
        await asyncio.sleep(0.05)
        in_hand = pg.backlog()
        release()
        rows = await asyncio.gather(first, *rest)
    await _stopped(pg)

    assert in_hand.depth == 11
    assert in_hand.oldest_age >= 0.1
    assert pg.backlog().depth == 0
    stats = pg.stats()
    assert (stats.transactions_committed, stats.largest_batch) == (2, 10)
    assert [row.sequence for row in rows] == list(range(1, 12))


async def _callers_who_call_again(pg: PgAsyncWriter) -> list[PendingEvent]:
    """Five callers whose calls commit together, each calling again once
    answered (as a client does), and one call arriving meanwhile."""

    async def twice(n: int) -> list[PendingEvent]:
        first = await pg.write(_fields(n))
        return [first, await pg.write(_fields(n + 10))]

    with _inserts_wait() as release:
        callers = [asyncio.create_task(twice(n)) for n in range(5)]
        await asyncio.sleep(0.1)  # one batch of five, waiting for the lock
        meanwhile = asyncio.create_task(pg.write(_fields(5)))
        await asyncio.sleep(0.05)
        release()
        rows = [row for pair in await asyncio.gather(*callers) for row in pair]
        rows.append(await meanwhile)
    return rows


async def test_a_busy_lane_lingers_so_more_calls_share_a_commit() -> None:
    """After a batch of five, the flush lets the loop run a few rounds:
    the five callers, answered, call again, and those calls join the one
    that waited, in one transaction instead of two."""
    pg = PgAsyncWriter(linger_rounds=4)
    rows = await _callers_who_call_again(pg)
    await _stopped(pg)

    stats = pg.stats()
    assert (stats.transactions_committed, stats.largest_batch) == (2, 6)
    assert sorted(row.sequence for row in rows) == list(range(1, 12))
    assert await run_db(_transactions) == 2
    assert "OK: 1 chains, 11 rows verified." in await run_db(_verify)


async def test_without_lingering_the_waiting_call_commits_alone() -> None:
    """The same callers with `linger_rounds=0`: the call that waited is
    taken at once, alone, and the callers' second calls need a third
    transaction (what lingering saves)."""
    pg = PgAsyncWriter(linger_rounds=0)
    await _callers_who_call_again(pg)
    await _stopped(pg)

    assert pg.stats().transactions_committed == 3


async def test_behind_a_batch_of_one_nothing_lingers() -> None:
    """Lingering needs a busy lane: behind a batch of one event the queued
    four are taken at once, so the first caller's next call, answered
    meanwhile, does not join them (three transactions, as without it)."""
    pg = PgAsyncWriter(linger_rounds=4)

    async def twice() -> None:
        await pg.write(_fields(0))
        await pg.write(_fields(10))

    with _inserts_wait() as release:
        caller = asyncio.create_task(twice())
        await asyncio.sleep(0.1)
        rest = [asyncio.create_task(pg.write(_fields(n))) for n in range(1, 5)]
        await asyncio.sleep(0.05)
        release()
        await asyncio.gather(caller, *rest)
    await _stopped(pg)

    stats = pg.stats()
    assert (stats.transactions_committed, stats.largest_batch) == (3, 4)


async def test_a_poison_event_fails_only_its_own_caller() -> None:
    pg = PgAsyncWriter()
    tenant = await run_db(TenantFactory)
    fields = [_fields(n, tenant_id=tenant.pk) for n in range(24)]
    fields[9]["tenant_id"] = tenant.pk + 10_000  # no such tenant: an FK violation

    outcomes = await asyncio.gather(
        *(pg.write(f) for f in fields), return_exceptions=True
    )
    await _stopped(pg)

    assert isinstance(outcomes[9], IntegrityError)
    assert all(isinstance(o, PendingEvent) for i, o in enumerate(outcomes) if i != 9)
    stored = await run_db(_stored_request_ids)
    assert stored == [f"req-{n}" for n in range(24) if n != 9]
    stats = pg.stats()
    assert (stats.events_written, stats.events_failed) == (23, 1)
    assert "OK: 1 chains, 23 rows verified." in await run_db(_verify)


async def test_a_connection_cut_mid_batch_is_retried_on_a_new_one(
    proxy: PgProxy,
) -> None:
    pg = PgAsyncWriter(conninfo={"port": proxy.port})
    await pg.write(_fields(0))  # connected through the proxy
    # The batch goes into a partition, then the connection is reset under
    # it (its bytes never reach the server) and new connections are
    # refused for a while.
    await asyncio.to_thread(proxy.set_mode, Mode.BLACKHOLE)
    calls = [asyncio.create_task(pg.write(_fields(n))) for n in range(1, 6)]
    await asyncio.sleep(0.2)
    await asyncio.to_thread(proxy.set_mode, Mode.REFUSE)
    await asyncio.sleep(0.5)
    assert not any(call.done() for call in calls)  # retrying, not failed
    await asyncio.to_thread(proxy.set_mode, Mode.FORWARD)

    rows = await asyncio.gather(*calls)
    await _stopped(pg)

    assert [row.sequence for row in rows] == [2, 3, 4, 5, 6]
    assert pg.stats().retries >= 2
    assert await run_db(_stored_request_ids) == [f"req-{n}" for n in range(6)]
    assert "OK: 1 chains, 6 rows verified." in await run_db(_verify)


async def test_a_connection_lost_past_the_deadline_fails_closed(
    proxy: PgProxy,
) -> None:
    pg = PgAsyncWriter(conninfo={"port": proxy.port}, retry_seconds=0.5)
    await pg.write(_fields(0))
    await asyncio.to_thread(proxy.set_mode, Mode.REFUSE)
    started = time.monotonic()

    outcomes = await asyncio.gather(
        *(pg.write(_fields(n)) for n in range(1, 4)), return_exceptions=True
    )

    waited = time.monotonic() - started
    assert all(isinstance(outcome, OperationalError) for outcome in outcomes)
    assert 0.5 <= waited < 5
    assert pg.stats().events_failed == 3
    assert pg.stats().retries > 1
    assert await run_db(_stored_request_ids) == ["req-0"]
    # Back: the next event commits on a new connection, after the head.
    await asyncio.to_thread(proxy.set_mode, Mode.FORWARD)
    row = await pg.write(_fields(4))
    await _stopped(pg)
    assert row.sequence == 2


async def test_a_partition_is_cut_off_at_the_deadline(proxy: PgProxy) -> None:
    """A statement the network holds fails closed; it does not wait for it."""
    pg = PgAsyncWriter(conninfo={"port": proxy.port}, retry_seconds=0.2)
    await pg.write(_fields(0))
    await asyncio.to_thread(proxy.set_mode, Mode.BLACKHOLE)
    started = time.monotonic()

    with pytest.raises(OperationalError, match="did not commit within"):
        await pg.write(_fields(1))

    waited = time.monotonic() - started
    assert MIN_ATTEMPT_SECONDS <= waited < MIN_ATTEMPT_SECONDS + 3
    await asyncio.to_thread(proxy.set_mode, Mode.FORWARD)
    row = await pg.write(_fields(2))
    await _stopped(pg)
    assert row.request_id == "req-2"
    assert await run_db(_stored_request_ids) in (
        ["req-0", "req-2"],
        ["req-0", "req-1", "req-2"],  # the cut-off statement reached the server
    )
    assert "OK: 1 chains" in await run_db(_verify)


async def test_a_cancelled_caller_does_not_lose_its_event() -> None:
    pg = PgAsyncWriter()
    with _inserts_wait() as release:
        calls = [asyncio.create_task(pg.write(_fields(n))) for n in range(1, 6)]
        await asyncio.sleep(0)
        calls[0].cancel()
        await asyncio.sleep(0.05)  # their commit is waiting for the lock
        calls[1].cancel()
        late = asyncio.create_task(pg.write(_fields(6)))
        await asyncio.sleep(0)
        late.cancel()
        release()

        await asyncio.gather(*calls[2:])
        await pg.drain()
    await _stopped(pg)

    assert [task.cancelled() for task in (calls[0], calls[1], late)] == [True] * 3
    assert sorted(await run_db(_stored_request_ids)) == [
        f"req-{n}" for n in range(1, 7)
    ]
    assert pg.stats().events_written == 6
    assert "OK: 1 chains, 6 rows verified." in await run_db(_verify)


async def test_drain_commits_everything_queued_at_shutdown() -> None:
    """Calls cut short leave their events queued; the drain waits for them."""
    pg = PgAsyncWriter()
    with _inserts_wait() as release:
        calls = [asyncio.create_task(pg.write(_fields(n))) for n in range(300)]
        await asyncio.sleep(0.05)
        for call in calls:
            call.cancel()
        asyncio.get_running_loop().call_later(0.2, release)

        await pg.drain()

    assert pg.backlog().depth == 0
    await _stopped(pg)
    assert sorted(await run_db(_stored_request_ids)) == sorted(
        f"req-{n}" for n in range(300)
    )
    assert pg.stats().transactions_committed >= 2  # MAX_BATCH is 256


async def test_each_event_loop_has_its_own_connection_closed_after_it(
    named: str,
) -> None:
    """Futures and connections belong to one loop; the lane of a loop that
    ended is retired, its connection closed, when another loop comes."""
    pg = PgAsyncWriter(conninfo={"application_name": named})
    rows = [await pg.write(_fields(1))]

    def on_another_loop(n: int) -> PendingEvent:
        return asyncio.run(pg.write(_fields(n)))

    rows.append(await asyncio.to_thread(on_another_loop, 2))
    assert await _backends_soon(named, 2) == 2  # this loop's and the ended one's
    rows.append(await asyncio.to_thread(on_another_loop, 3))
    assert await _backends_soon(named, 2) == 2  # the first ended one's is closed
    rows.append(await pg.write(_fields(4)))
    await _stopped(pg)

    assert await _backends_soon(named, 0) == 0
    assert [row.sequence for row in rows] == [1, 2, 3, 4]
    assert "OK: 1 chains, 4 rows verified." in await run_db(_verify)


async def test_stop_waits_for_a_batch_in_flight() -> None:
    pg = PgAsyncWriter()
    with _inserts_wait() as release:
        call = asyncio.create_task(pg.write(_fields(1)))
        await asyncio.sleep(0.05)
        stopping = threading.Thread(target=pg.stop)
        stopping.start()
        await asyncio.sleep(0.1)
        still_stopping = stopping.is_alive()
        release()
        row = await call
        await asyncio.to_thread(stopping.join)

    assert still_stopping
    assert row.sequence == 1

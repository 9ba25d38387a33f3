"""The group-commit audit writer: durable before the answer, without a ceiling.

`await write(fields)` returns only once the transaction holding the event
has committed, and raises if it could not commit (the caller then fails the
call it audits). Concurrent events share transactions:

- each process has one writer thread with its own database connection;
  callers hand it their event through a queue and wait on a future;
- an event that reaches an idle writer is committed at once (no timer, so
  a lone caller pays no batching delay);
- events that arrive while a batch is being committed queue up, and the
  whole queue (at most `MAX_BATCH` events) goes into the next transaction.

Why a thread of its own rather than `mcpserver.db.run_db` per batch: the
hand-off is one queue put and one `call_soon_threadsafe` per batch, where
`run_db` costs a few hundred microseconds of asgiref machinery, and while
SQLite or PostgreSQL work on a commit the thread releases the GIL, so the
event loop keeps serving requests. One batch is in flight per process, and
the writer appends to a chain of its own (`<host>:<pid>/calls`), so its
head is never contended and processes never wait on each other's chain.
On SQLite the database still serializes writers across processes
(IMMEDIATE transactions wait out the busy timeout); fewer, larger
transactions are what make that cheap.

Failures:

- a transient failure (SQLite "database is locked"/busy, PostgreSQL
  serialization failure, deadlock, lost connection, pool timeout) retries
  the batch up to `max_attempts` times with short exponential backoff, on
  a fresh connection; if the failure persists every caller in the batch
  gets the error;
- any other failure splits the batch in halves, each committed on its own,
  down to single events, so a poison event (say, a foreign key to a tenant
  that does not exist) fails only its own caller;
- a caller cancelled while waiting does not take its event with it: the
  event stays queued and is committed like any other.

A commit whose acknowledgement is lost (the connection drops during
COMMIT) may have committed; the retry then appends the event again. A
duplicate row is preferred to a missing one, and the chain stays valid.

The MCP app's lifespan calls `drain()` at shutdown so nothing queued is
lost; futures belong to the event loop of their caller, so several loops
(one per test) can share the writer.
"""

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, InterfaceError, OperationalError, connections
from django.utils import timezone

from audit.chain import GENESIS_HASH
from audit.models import AuditChain
from audit.services import (
    EVENT_FIELDS,
    PendingEvent,
    chain_events,
    insert_sql,
    pending_event,
    process_chain_id,
)
from audit.triggers import CHAIN_HEAD_MOVED

logger = logging.getLogger(__name__)

MAX_BATCH = 256
MAX_ATTEMPTS = 5
BACKOFF_SECONDS = 0.01
SQLITE_BUSY_SECONDS = 20.0
"""How long a batch waits for another process's SQLite write (as the
busy timeout of the other connections, config/settings.py)."""

# PostgreSQL errors worth retrying: serialization failure, deadlock, lock
# not available, admin/crash shutdown, cannot connect now, too many
# connections; and every connection exception (class 08).
_TRANSIENT_SQLSTATES = frozenset(
    {"40001", "40P01", "55P03", "57P01", "57P02", "57P03", "53300"}
)


class StaleHead(OperationalError):
    """The chain head in the table is not the one the writer remembered."""


def is_transient(exc: BaseException) -> bool:
    """Return whether `exc` is a database failure that a retry may cure."""
    if isinstance(exc, StaleHead):
        return True
    if not isinstance(exc, OperationalError | InterfaceError):
        return False
    cause = exc.__cause__
    if isinstance(cause, sqlite3.Error) or cause is None:
        message = str(exc).lower()
        return "locked" in message or "busy" in message
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate is None:
        # psycopg raises connection-level failures (connection lost, pool
        # timeout) without a SQLSTATE.
        return True
    return sqlstate in _TRANSIENT_SQLSTATES or sqlstate.startswith("08")


@dataclass
class WriterStats:
    """Counters since the process started (or the last `reset_stats`).

    `events_written / transactions_committed` is the mean batch size; a
    value above 1 shows group commit at work.
    """

    events_written: int = 0
    transactions_committed: int = 0
    events_failed: int = 0
    retries: int = 0
    largest_batch: int = 0


@dataclass
class _Pending:
    event: PendingEvent
    future: asyncio.Future[PendingEvent]
    loop: asyncio.AbstractEventLoop


_STOP: Any = object()
"""Put on the queue to end the writer thread."""


def _settle(future: asyncio.Future[PendingEvent], outcome: Any) -> None:
    """Resolve `future` on its loop (unless its caller gave up on it)."""
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def _settle_all(results: list[tuple[asyncio.Future[PendingEvent], Any]]) -> None:
    for future, outcome in results:
        _settle(future, outcome)


class _Store:
    """The writer thread's connection, and the chain only this thread appends to.

    A batch is one statement: a multi-row `INSERT ... RETURNING id` on the
    thread's own connection in autocommit mode, so it is its own
    transaction, one round trip to PostgreSQL and one call into SQLite (each
    releasing the GIL while the database works, so the event loop keeps
    the interpreter). The chain-head trigger (audit/triggers.py) advances
    the head row in that same statement and refuses the whole batch if the
    head is not the one this thread remembered, so a stale memory (a commit
    whose acknowledgement was lost) can never fork the chain: the head is
    then read again and the batch retried.
    """

    def __init__(self) -> None:
        self.chain_id = f"{process_chain_id()}/calls"[:96]
        self.head: tuple[int, str] | None = None
        self._tuned: Any = None  # the raw connection given busy_timeout = 0

    def commit(self, events: list[PendingEvent]) -> list[PendingEvent]:
        connection = connections["default"]
        connection.ensure_connection()
        sqlite = connection.vendor == "sqlite"
        mark = "?" if sqlite else "%s"
        try:
            with connection.wrap_database_errors:
                cursor = connection.connection.cursor()
                try:
                    if self.head is None:
                        self.head = self._read_head(cursor, mark, connection)
                    sequence, prev_hash = chain_events(
                        events,
                        chain_id=self.chain_id,
                        sequence=self.head[0],
                        prev_hash=self.head[1],
                    )
                    sql = insert_sql(
                        len(events),
                        placeholder=mark,
                        json_cast="" if sqlite else "::jsonb",
                    )
                    params = self._params(events, connection)
                    if sqlite:
                        ids = self._insert_sqlite(
                            cursor, connection.connection, sql, params
                        )
                    else:
                        cursor.execute(sql, params)
                        ids = [row[0] for row in cursor.fetchall()]
                finally:
                    cursor.close()
        except IntegrityError as exc:
            self.head = None
            if CHAIN_HEAD_MOVED in str(exc):
                raise StaleHead(str(exc)) from exc
            raise
        except BaseException:
            self.head = None
            raise
        self.head = (sequence, prev_hash)
        for event, pk in zip(events, ids, strict=True):
            event.pk = pk
        return events

    def _insert_sqlite(
        self, cursor: Any, raw: Any, sql: str, params: list[Any]
    ) -> list[int]:
        """Run the INSERT, waiting for another process's write briefly and often.

        SQLite's own busy handler sleeps 1, 2, 5, 10 ... 100 ms between
        tries, so with several worker processes most of a batch's latency
        would be spent asleep after the lock was already free. This
        connection therefore has no busy timeout of its own and retries
        every 0.1-2 ms, for up to SQLITE_BUSY_SECONDS. A refused statement
        changed nothing, so running it again is safe.
        """
        if self._tuned is not raw:
            cursor.execute("PRAGMA busy_timeout = 0")
            self._tuned = raw
        deadline = time.monotonic() + SQLITE_BUSY_SECONDS
        delay = 0.0001
        while True:
            try:
                cursor.execute(sql, params)
                return [row[0] for row in cursor.fetchall()]
            except sqlite3.OperationalError as exc:
                message = str(exc).lower()
                if "locked" not in message and "busy" not in message:
                    raise
                if time.monotonic() > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.002)

    def _read_head(self, cursor: Any, mark: str, connection: Any) -> tuple[int, str]:
        table = AuditChain._meta.db_table
        select = f"SELECT last_sequence, last_hash FROM {table} WHERE chain_id = {mark}"  # noqa: S608
        cursor.execute(select, [self.chain_id])
        row = cursor.fetchone()
        if row is None:
            cursor.execute(
                f"INSERT INTO {table} (chain_id, last_sequence, last_hash, created_at) "  # noqa: S608
                f"VALUES ({mark}, 0, {mark}, {mark})",
                [
                    self.chain_id,
                    GENESIS_HASH,
                    connection.ops.adapt_datetimefield_value(timezone.now()),
                ],
            )
            return 0, GENESIS_HASH
        return int(row[0]), str(row[1])

    @staticmethod
    def _params(events: list[PendingEvent], connection: Any) -> list[Any]:
        adapt_time = connection.ops.adapt_datetimefield_value
        params: list[Any] = []
        for event in events:
            for field in EVENT_FIELDS:
                name = field.attname
                if name == "occurred_at":
                    params.append(adapt_time(event.occurred_at))
                elif name == "arguments":
                    params.append(event.arguments_json)
                else:
                    params.append(getattr(event, name))
        return params


class AuditWriter:
    """A per-process group-commit writer (see the module docstring)."""

    def __init__(
        self,
        *,
        max_batch: int = MAX_BATCH,
        max_attempts: int = MAX_ATTEMPTS,
        backoff_seconds: float = BACKOFF_SECONDS,
    ) -> None:
        self.max_batch = max_batch
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        # Events handed over and not yet settled; `drain` waits for zero.
        self._unsettled = 0
        self._idle = threading.Condition()
        self._stats = WriterStats()
        self._stats_lock = threading.Lock()
        self._store: _Store | None = None

    async def write(self, fields: Mapping[str, Any]) -> PendingEvent:
        """Append one event (fields as for `build_event`); return it, stored.

        Returns after the transaction holding the event committed. Raises
        the database error if it could not (after retries for a transient
        one), or TypeError/ValueError at once for fields `build_event`
        refuses. Cancelling the caller does not withdraw the event.
        """
        event = pending_event(**fields)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[PendingEvent] = loop.create_future()
        self._ensure_thread()
        with self._idle:
            self._unsettled += 1
        self._queue.put(_Pending(event, future, loop))
        # The future is this caller's alone: cancelling the caller cancels
        # it, which the writer then skips, and the queued event stays queued.
        return await future

    async def drain(self) -> None:
        """Wait until every event handed to the writer is settled."""
        while True:
            with self._idle:
                if not self._unsettled:
                    return
            await asyncio.sleep(0.005)

    def stats(self) -> WriterStats:
        """A snapshot of the counters."""
        with self._stats_lock:
            return WriterStats(**vars(self._stats))

    def reset_stats(self) -> None:
        """Zero the counters (tests, benchmarks)."""
        with self._stats_lock:
            self._stats = WriterStats()

    # --- the writer thread ---------------------------------------------
    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="audit-writer", daemon=True
                )
                self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the writer thread after what is queued; close its connection.

        Blocking. A later `write` starts a new thread. Used at shutdown (the
        MCP app's lifespan, the test suite) so no connection outlives it.
        """
        thread = self._thread
        if thread is None or not thread.is_alive():
            return
        self._queue.put(_STOP)
        thread.join(timeout)
        if not self._queue.empty():  # written while stopping: serve them
            self._ensure_thread()

    def _run(self) -> None:
        """Take what is queued, commit it, settle it, until told to stop."""
        while True:
            first = self._queue.get()
            if first is _STOP:
                self._store = None
                connections.close_all()
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:  # after this batch
                    self._queue.put(_STOP)
                    break
                batch.append(item)
            results: list[tuple[_Pending, Any]] = []
            try:
                self._commit(batch, results)
            except BaseException as exc:  # a bug: fail closed, keep serving
                logger.exception("The audit writer failed")
                settled = {id(pending) for pending, _ in results}
                error = RuntimeError("The audit writer failed.")
                error.__cause__ = exc
                results += [(p, error) for p in batch if id(p) not in settled]
            self._deliver(results)

    def _deliver(self, results: list[tuple[_Pending, Any]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = {}
        for pending, outcome in results:
            by_loop.setdefault(pending.loop, []).append((pending.future, outcome))
        for loop, outcomes in by_loop.items():
            # A closed loop has nobody waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle_all, outcomes)
        with self._idle:
            self._unsettled -= len(results)

    def _commit(
        self, batch: list[_Pending], results: list[tuple[_Pending, Any]]
    ) -> None:
        """Commit `batch`, splitting it around events that cannot commit."""
        try:
            rows = self._commit_with_retries(batch)
        except Exception as exc:
            if len(batch) == 1 or is_transient(exc):
                logger.warning("Audit batch of %d event(s) failed: %r", len(batch), exc)
                with self._stats_lock:
                    self._stats.events_failed += len(batch)
                results.extend((pending, exc) for pending in batch)
                return
            middle = len(batch) // 2
            self._commit(batch[:middle], results)
            self._commit(batch[middle:], results)
            return
        with self._stats_lock:
            self._stats.events_written += len(rows)
            self._stats.transactions_committed += 1
            self._stats.largest_batch = max(self._stats.largest_batch, len(rows))
        results.extend(zip(batch, rows, strict=True))

    def _commit_with_retries(self, batch: list[_Pending]) -> list[PendingEvent]:
        if self._store is None:
            self._store = _Store()
        # Each attempt gives the events their chain places afresh, so a
        # retry or a split needs no copies.
        events = [pending.event for pending in batch]
        for attempt in range(1, self.max_attempts + 1):
            try:
                return self._store.commit(events)
            except Exception as exc:
                if is_transient(exc) and not isinstance(exc, StaleHead):
                    # A broken connection is replaced before the next attempt.
                    connections["default"].close()
                if not is_transient(exc) or attempt == self.max_attempts:
                    raise
                with self._stats_lock:
                    self._stats.retries += 1
                time.sleep(self.backoff_seconds * 2 ** (attempt - 1))
        raise AssertionError("unreachable")  # pragma: no cover


_writer = AuditWriter()


def get_writer() -> AuditWriter:
    """The process's writer."""
    return _writer


async def write(fields: Mapping[str, Any]) -> PendingEvent:
    """`AuditWriter.write` on the process's writer."""
    return await _writer.write(fields)


async def drain() -> None:
    """`AuditWriter.drain` on the process's writer."""
    await _writer.drain()


def stop() -> None:
    """`AuditWriter.stop` on the process's writer."""
    _writer.stop()


def stats() -> WriterStats:
    """The process's writer counters."""
    return _writer.stats()


def reset_stats() -> None:
    """Zero the process's writer counters."""
    _writer.reset_stats()

"""The group-commit audit writer: durable before the answer, without a ceiling.

This module is the one way in (`write`, `drain`, `stop`, `stats`,
`backlog`); behind it each process has one writer, chosen at import: the
writer thread below, or on PostgreSQL (unless MCP_AUDIT_PG_ASYNC is false)
the writer on the event loop, audit/writer_pg_async.py, which keeps every
guarantee listed here and sends each batch on a psycopg AsyncConnection.

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
On SQLite the database still serializes writers across processes; fewer,
larger transactions are what make that cheap.

Failures:

- a transient failure (SQLite "database is locked"/busy, PostgreSQL
  serialization failure, deadlock, lost connection, pool timeout, a chain
  head moved behind the writer's back) retries the batch (audit/retry.py)
  until `retry_seconds` after the batch was taken from the queue; if it
  persists every caller in the batch gets the error (fail closed);
- any other failure splits the batch in halves, each committed on its own,
  down to single events, so a poison event (say, a foreign key to a tenant
  that does not exist) fails only its own caller;
- a caller cancelled while waiting does not take its event with it: the
  event stays queued and is committed like any other.

The MCP app's lifespan calls `drain()` at shutdown so nothing queued is
lost (it gives up after DRAIN_SECONDS and logs how many events it could not
commit); futures belong to the event loop of their caller, so several loops
(one per test) can share the writer.
"""

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connections

from audit.retry import RETRY_SECONDS, Transient, retry_until
from audit.services import PendingEvent, pending_event
from audit.writer_backlog import BacklogSnapshot
from audit.writer_bookkeeping import (
    DRAIN_SECONDS,
    MAX_BATCH,
    STOP_SECONDS,
    Bookkept,
    Counters,
    InHand,
    Pending,
    WriterStats,
    halves,
)
from audit.writer_store import WriterStore

if TYPE_CHECKING:
    from audit.writer_pg_async import PgAsyncWriter

logger = logging.getLogger(__name__)


_STOP: Any = object()
"""Put on the queue to end the writer thread."""


class AuditWriter(Bookkept):
    """A per-process group-commit writer (see the module docstring)."""

    def __init__(
        self,
        *,
        max_batch: int = MAX_BATCH,
        retry_seconds: float = RETRY_SECONDS,
        drain_seconds: float = DRAIN_SECONDS,
    ) -> None:
        self.max_batch = max_batch
        self.retry_seconds = retry_seconds
        self.drain_seconds = drain_seconds
        self._queue: queue.SimpleQueue[Pending] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._in_hand = InHand(logger)
        self._counters = Counters()
        self._store: WriterStore | None = None

    async def write(self, fields: Mapping[str, Any]) -> PendingEvent:
        """Append one event (fields as for `pending_event`); return it, stored.

        Returns after the transaction holding the event committed. Raises
        the database error if it could not (after retries for a transient
        one), or TypeError/ValueError at once for fields `pending_event`
        refuses. Cancelling the caller does not withdraw the event.
        """
        event = pending_event(**fields)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[PendingEvent] = loop.create_future()
        self._ensure_thread()
        self._in_hand.add()
        self._queue.put(Pending(event, future, loop))
        # The future is this caller's alone: cancelling the caller cancels
        # it, which the writer then skips, and the queued event stays queued.
        return await future

    async def drain(self) -> None:
        """Wait until every event handed to the writer is settled.

        Woken by the writer thread when the last one settles. After
        `drain_seconds` gives up and logs (WARNING) how many events are
        still not committed.
        """
        await self._in_hand.drain(self.drain_seconds)

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

    def stop(self, timeout: float = STOP_SECONDS) -> None:
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
            results: list[tuple[Pending, Any]] = []
            deadline = time.monotonic() + self.retry_seconds
            try:
                self._commit(batch, results, deadline)
            except BaseException as exc:  # a bug: fail closed, keep serving
                logger.exception("The audit writer failed")
                settled = {id(pending) for pending, _ in results}
                error = RuntimeError("The audit writer failed.")
                error.__cause__ = exc
                results += [(p, error) for p in batch if id(p) not in settled]
            self._in_hand.settle(results)

    def _commit(
        self,
        batch: list[Pending],
        results: list[tuple[Pending, Any]],
        deadline: float,
    ) -> None:
        """Commit `batch`, splitting it around events that cannot commit."""
        if self._store is None:
            self._store = WriterStore()
        store = self._store
        # Each split gives the events their chain places afresh, so it
        # needs no copies.
        events = [pending.event for pending in batch]
        started = time.monotonic()
        try:
            rows = retry_until(deadline, lambda: store.commit(events), self._retrying)
        except Exception as exc:
            split = halves(batch, exc)
            if split is None:
                logger.warning("Audit batch of %d event(s) failed: %r", len(batch), exc)
                self._counters.failed(len(batch))
                results.extend((pending, exc) for pending in batch)
                return
            for half in split:
                self._commit(half, results, deadline)
            return
        self._counters.committed(len(rows), time.monotonic() - started)
        results.extend(zip(batch, rows, strict=True))

    def _retrying(self, kind: Transient) -> None:
        if kind is Transient.OTHER:
            # A broken connection is replaced before the next try.
            connections["default"].close()
        self._counters.retried()


def _process_writer() -> "AuditWriter | PgAsyncWriter":
    """The writer thread, or on PostgreSQL the writer on the event loop.

    Chosen once, at import; settings.MCP_AUDIT_PG_ASYNC=false keeps the
    thread on PostgreSQL too (benchmarks, and a safety valve).
    """
    if connections["default"].vendor == "postgresql" and settings.MCP_AUDIT_PG_ASYNC:
        from audit.writer_pg_async import PgAsyncWriter

        return PgAsyncWriter()
    return AuditWriter()


_writer = _process_writer()


async def write(fields: Mapping[str, Any]) -> PendingEvent:
    """`write` on the process's writer (`AuditWriter.write`)."""
    return await _writer.write(fields)


async def drain() -> None:
    """`drain` on the process's writer (`AuditWriter.drain`)."""
    await _writer.drain()


def stop() -> None:
    """`stop` on the process's writer (`AuditWriter.stop`)."""
    _writer.stop()


def stats() -> WriterStats:
    """The process's writer counters."""
    return _writer.stats()


def reset_stats() -> None:
    """Zero the process's writer counters."""
    _writer.reset_stats()


def backlog() -> BacklogSnapshot:
    """How far behind the process's writer is (audit/writer_backlog.py)."""
    return _writer.backlog()

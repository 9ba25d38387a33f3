"""The group-commit audit writer: durable before the answer, without a ceiling.

`await write(fields)` returns only once the transaction holding the event
has committed, and raises if it could not commit (the caller then fails the
call it audits). Concurrent events share transactions:

- an event that arrives while the writer is idle is committed at once (no
  timer, so a lone caller pays no batching delay);
- events that arrive while a batch is being committed queue up, and the
  whole queue (at most `MAX_BATCH` events) goes into the next transaction:
  one `append_events` call in one `transaction.atomic(durable=True)` on a
  `run_db` thread.

One batch is in flight per event loop, so the process's chain head
(`audit.services.process_chain_id`) is never contended by its own writer,
and processes never wait on each other's chain. On SQLite the database
still serializes writers across processes (IMMEDIATE transactions wait out
the busy timeout); fewer, larger transactions are what make that cheap.

Failures:

- a transient failure (SQLite "database is locked"/busy, PostgreSQL
  serialization failure, deadlock, lost connection, pool timeout) retries
  the batch up to `MAX_ATTEMPTS` times with short exponential backoff; if
  the failure persists every caller in the batch gets the error;
- any other failure splits the batch in halves, each committed on its own,
  down to single events, so a poison event (say, a foreign key to a tenant
  that does not exist) fails only its own caller;
- a caller cancelled while waiting does not take its event with it: the
  event stays queued and is committed like any other.

A commit whose acknowledgement is lost (the connection drops during
COMMIT) may have committed; the retry then appends the event again. A
duplicate row is preferred to a missing one, and the chain stays valid.

State is per event loop (tests run one loop per test; a server has one),
kept in a weak mapping so a finished loop's state goes with it. The MCP
app's lifespan calls `drain()` at shutdown so nothing queued is lost.
"""

import asyncio
import contextvars
import logging
import sqlite3
import threading
import weakref
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import InterfaceError, OperationalError, transaction

from audit.models import AuditEvent
from audit.services import append_events, build_event
from mcpserver.db import run_db

logger = logging.getLogger(__name__)

MAX_BATCH = 256
MAX_ATTEMPTS = 5
BACKOFF_SECONDS = 0.01

# PostgreSQL errors worth retrying: serialization failure, deadlock, lock
# not available, admin/crash shutdown, cannot connect now, too many
# connections; and every connection exception (class 08).
_TRANSIENT_SQLSTATES = frozenset(
    {"40001", "40P01", "55P03", "57P01", "57P02", "57P03", "53300"}
)


def is_transient(exc: BaseException) -> bool:
    """Return whether `exc` is a database failure that a retry may cure."""
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
    event: AuditEvent
    future: asyncio.Future[AuditEvent]


@dataclass
class _LoopState:
    queue: deque[_Pending] = field(default_factory=deque)
    flusher: asyncio.Task[None] | None = None


def _unsaved(event: AuditEvent) -> AuditEvent:
    """`event`, or a fresh copy if an insert that rolled back left it a pk."""
    if event._state.adding and event.pk is None:
        return event
    return AuditEvent(
        **{
            f.attname: getattr(event, f.attname)
            for f in AuditEvent._meta.concrete_fields
            if not f.primary_key
        }
    )


def _commit_batch(events: Sequence[AuditEvent]) -> list[AuditEvent]:
    """Chain and insert `events` in one durable transaction; return the rows."""
    with transaction.atomic(durable=True):
        return append_events([_unsaved(event) for event in events])


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
        self._states: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, _LoopState
        ] = weakref.WeakKeyDictionary()
        self._stats = WriterStats()
        self._stats_lock = threading.Lock()

    async def write(self, fields: Mapping[str, Any]) -> AuditEvent:
        """Append one event (fields as for `build_event`); return its stored row.

        Returns after the transaction holding the event committed. Raises
        the database error if it could not (after retries for a transient
        one), or TypeError/ValueError at once for fields `build_event`
        refuses. Cancelling the caller does not withdraw the event.
        """
        event = build_event(**fields)
        loop = asyncio.get_running_loop()
        state = self._state(loop)
        pending = _Pending(event=event, future=loop.create_future())
        state.queue.append(pending)
        if state.flusher is None:
            # A context of its own: the flusher serves every caller, not
            # the one whose event happened to start it.
            state.flusher = loop.create_task(
                self._flush(state), context=contextvars.Context()
            )
        # shield: a cancelled caller must not cancel the shared outcome.
        return await asyncio.shield(pending.future)

    async def drain(self) -> None:
        """Wait until every event queued on this event loop is settled."""
        state = self._state(asyncio.get_running_loop())
        while state.flusher is not None:
            await asyncio.wait({state.flusher})

    def stats(self) -> WriterStats:
        """A snapshot of the counters."""
        with self._stats_lock:
            return WriterStats(**vars(self._stats))

    def reset_stats(self) -> None:
        """Zero the counters (tests, benchmarks)."""
        with self._stats_lock:
            self._stats = WriterStats()

    def _state(self, loop: asyncio.AbstractEventLoop) -> _LoopState:
        state = self._states.get(loop)
        if state is None:
            state = self._states[loop] = _LoopState()
        return state

    async def _flush(self, state: _LoopState) -> None:
        """Commit the queue batch by batch until it is empty, then stop."""
        batch: list[_Pending] = []
        try:
            while state.queue:
                size = min(len(state.queue), self.max_batch)
                batch = [state.queue.popleft() for _ in range(size)]
                await self._commit(batch)
                batch = []
        except BaseException as exc:
            # Cancellation (the loop is shutting down) or a bug: the batch in
            # flight may or may not have committed, so its callers fail
            # closed, as does everything still queued.
            error = RuntimeError("The audit writer stopped.")
            error.__cause__ = exc
            self._settle(batch, error=error)
            self._settle(list(state.queue), error=error)
            state.queue.clear()
            if not isinstance(exc, Exception):
                raise
            logger.exception("The audit writer failed")
        finally:
            state.flusher = None

    async def _commit(self, batch: list[_Pending]) -> None:
        """Commit `batch`, splitting it around events that cannot commit."""
        try:
            rows = await self._commit_with_retries(batch)
        except Exception as exc:
            if len(batch) == 1 or is_transient(exc):
                logger.warning("Audit batch of %d event(s) failed: %r", len(batch), exc)
                self._settle(batch, error=exc)
                return
            middle = len(batch) // 2
            await self._commit(batch[:middle])
            await self._commit(batch[middle:])
            return
        with self._stats_lock:
            self._stats.events_written += len(rows)
            self._stats.transactions_committed += 1
            self._stats.largest_batch = max(self._stats.largest_batch, len(rows))
        for pending, row in zip(batch, rows, strict=True):
            if not pending.future.done():
                pending.future.set_result(row)

    async def _commit_with_retries(self, batch: list[_Pending]) -> list[AuditEvent]:
        events = [pending.event for pending in batch]
        for attempt in range(1, self.max_attempts + 1):
            try:
                return await run_db(_commit_batch, events)
            except Exception as exc:
                if attempt == self.max_attempts or not is_transient(exc):
                    raise
                with self._stats_lock:
                    self._stats.retries += 1
                await asyncio.sleep(self.backoff_seconds * 2 ** (attempt - 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def _settle(self, batch: list[_Pending], *, error: BaseException) -> None:
        """Fail the callers in `batch` whose outcome is not settled yet."""
        unsettled = [pending for pending in batch if not pending.future.done()]
        with self._stats_lock:
            self._stats.events_failed += len(unsettled)
        for pending in unsettled:
            pending.future.set_exception(error)


_writer = AuditWriter()


def get_writer() -> AuditWriter:
    """The process's writer."""
    return _writer


async def write(fields: Mapping[str, Any]) -> AuditEvent:
    """`AuditWriter.write` on the process's writer."""
    return await _writer.write(fields)


async def drain() -> None:
    """`AuditWriter.drain` on the process's writer."""
    await _writer.drain()


def stats() -> WriterStats:
    """The process's writer counters."""
    return _writer.stats()


def reset_stats() -> None:
    """Zero the process's writer counters."""
    _writer.reset_stats()

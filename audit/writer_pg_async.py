"""The PostgreSQL audit writer: group commit sent from the event loop.

On PostgreSQL (unless MCP_AUDIT_PG_ASYNC is false) a process's tool-call
audit events go here instead of to the writer thread (audit/writer.py),
with the same contract: `await write(fields)` returns only once the
transaction holding the event has committed, and raises if it could not.
What changes is the hand-off: no queue to a thread, no wake-up across
threads, no GIL hand-over per batch. The batch INSERT is sent on a psycopg
`AsyncConnection` (audit/writer_pg_connection.py) by a task of the loop
the callers run on, while the loop keeps serving requests.

- An event that reaches an idle loop lane starts its flush task at once
  (no timer); events that arrive while a batch is in flight queue up, and
  the whole queue (at most `MAX_BATCH`) is the next transaction.
- A busy lane lingers: when the batch just committed held at least
  `LINGER_SIBLINGS` events and more are waiting, the flush lets the loop
  run `linger_rounds` more rounds (MCP_AUDIT_PG_LINGER_ROUNDS) before it
  takes the next batch, so the calls those rounds bring to their audit
  step share its commit. Rounds, not a timer: an idle loop runs them in
  microseconds, so a lone call or a trickle never waits, while a busy one
  (the callers of the batch just settled, resuming; requests already
  read) fills the batch. It matters most when nodes split the load: each
  node's batches halve, and every commit costs the node about the same
  whatever it holds (README "Running a cluster").
- The statements, the chain memory, the retry schedule, the split rule,
  the counters and the backlog are the writer thread's (audit/batch_sql.py,
  audit/writer_store.py `ChainTail`, audit/retry.py `aretry_until`,
  audit/writer_bookkeeping.py): same chain `<host>:<pid>/calls`, same
  hashes, same errors (Django's classes).
- Each attempt is bounded by the batch's deadline (at least
  `MIN_ATTEMPT_SECONDS`): a statement the network holds (a partition) is
  cut off, its connection closed, and the batch fails closed at the
  deadline instead of waiting for the network (the writer thread waits).
  A statement cut off may still have committed; the retry then appends
  the events again (the chain-head trigger makes it re-read the head): a
  duplicate row rather than a missing one, as in audit/writer_store.py.
- A caller cancelled while waiting does not take its event with it: the
  flush task, not the caller, owns the batch.

Each event loop gets a lane of its own (queue, connection, chain memory),
since an AsyncConnection and a future belong to one loop; several loops
(one per test) can share the writer. A lane whose loop has closed is
retired by the next write or by `stop` (audit/writer_pg_lanes.py).
"""

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

import psycopg
from django.conf import settings
from django.db import OperationalError

from audit.retry import RETRY_SECONDS, Transient, aretry_until
from audit.services import PendingEvent, pending_event
from audit.writer_bookkeeping import (
    DRAIN_SECONDS,
    MAX_BATCH,
    STOP_SECONDS,
    Bookkept,
    Counters,
    InHand,
    Pending,
    halves,
    running_loop,
)
from audit.writer_pg_connection import aconnect, aread_head, django_connection
from audit.writer_pg_connection import django_errors as _django_errors
from audit.writer_pg_lanes import Lane, Lanes

logger = logging.getLogger(__name__)

LINGER_SIBLINGS = 4
"""The batch just committed held at least this many events: the lane is
busy enough to linger (module docstring)."""

MIN_ATTEMPT_SECONDS = 1.0
"""The least time an attempt gets, even past the batch's deadline (the
first attempt always runs, and the halves of a split batch share its
deadline)."""


class PgAsyncWriter(Bookkept):
    """A per-process group-commit writer on the event loop (module docstring)."""

    def __init__(
        self,
        *,
        max_batch: int = MAX_BATCH,
        retry_seconds: float = RETRY_SECONDS,
        drain_seconds: float = DRAIN_SECONDS,
        linger_rounds: int | None = None,
        conninfo: Mapping[str, Any] | None = None,
    ) -> None:
        """`conninfo` overrides Django's connection parameters (say, the port
        of a proxy in front of the database); `linger_rounds` defaults to
        settings.MCP_AUDIT_PG_LINGER_ROUNDS (0: never linger)."""
        self._conninfo = dict(conninfo or {})
        if linger_rounds is None:
            linger_rounds = settings.MCP_AUDIT_PG_LINGER_ROUNDS
        self.linger_rounds = linger_rounds
        self.max_batch = max_batch
        self.retry_seconds = retry_seconds
        self.drain_seconds = drain_seconds
        self._in_hand = InHand(logger)
        self._counters = Counters()
        self._lanes = Lanes(self._in_hand, self._counters)

    async def write(self, fields: Mapping[str, Any]) -> PendingEvent:
        """Append one event (fields as for `pending_event`); return it, stored.

        Returns after the transaction holding the event committed. Raises
        the database error if it could not (after retries for a transient
        one, until `retry_seconds`), or TypeError/ValueError at once for
        fields `pending_event` refuses. Cancelling the caller does not
        withdraw the event.
        """
        event = pending_event(**fields)
        loop = asyncio.get_running_loop()
        lane = self._lanes.of(loop)
        future: asyncio.Future[PendingEvent] = loop.create_future()
        self._in_hand.add()
        lane.queue.append(Pending(event, future, loop))
        if lane.task is None:
            lane.task = loop.create_task(self._flush(lane), name="audit-writer-pg")
        # The future is this caller's alone: cancelling the caller cancels
        # it, which the flush then skips; the event stays in the batch.
        return await future

    async def drain(self) -> None:
        """Wait until every event handed over is settled (at most
        `drain_seconds`; then logs, WARNING, how many are not)."""
        await self._in_hand.drain(self.drain_seconds)

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """Finish what every lane holds, close its connection; forget lanes.

        Blocking; call it from a thread other than a running lane's loop
        (the MCP app's lifespan runs it in a worker thread). A later `write`
        opens a new lane.
        """
        here = running_loop()
        for lane in self._lanes.take_all():
            if lane.loop.is_closed() or not lane.loop.is_running():
                self._lanes.retire(lane)
                continue
            if lane.loop is here:  # it cannot wait for itself
                if lane.task is None:
                    lane.drop_connection()
                continue
            done = asyncio.run_coroutine_threadsafe(self._close(lane), lane.loop)
            try:
                done.result(timeout)
            except Exception:
                logger.exception("The audit writer lane did not stop in time")

    async def _close(self, lane: Lane) -> None:
        """Let the lane's flush finish, then close its connection (on its loop)."""
        if lane.task is not None:
            await asyncio.shield(lane.task)
        lane.drop_connection()

    # --- the flush task -----------------------------------------------------
    async def _flush(self, lane: Lane) -> None:
        """Commit what the lane holds, batch after batch, until it is empty."""
        previous = 0  # events in the batch just committed
        try:
            while lane.queue:
                if previous >= LINGER_SIBLINGS and len(lane.queue) < self.max_batch:
                    for _ in range(self.linger_rounds):
                        await asyncio.sleep(0)  # one round of the loop
                count = min(len(lane.queue), self.max_batch)
                previous = count
                batch = [lane.queue.popleft() for _ in range(count)]
                results: list[tuple[Pending, Any]] = []
                deadline = time.monotonic() + self.retry_seconds
                try:
                    await self._commit(lane, batch, results, deadline)
                except asyncio.CancelledError:
                    # The loop is going away: whatever was in flight is in
                    # an unknown state; the rest waits for a later flush or
                    # for `_retire`.
                    lane.drop_connection()
                    settled = {id(pending) for pending, _ in results}
                    lane.queue.extendleft(
                        reversed([p for p in batch if id(p) not in settled])
                    )
                    self._in_hand.settle(results)
                    raise
                except Exception as exc:  # a bug: fail closed, keep serving
                    logger.exception("The audit writer failed")
                    lane.drop_connection()
                    settled = {id(pending) for pending, _ in results}
                    error = RuntimeError("The audit writer failed.")
                    error.__cause__ = exc
                    results += [(p, error) for p in batch if id(p) not in settled]
                self._in_hand.settle(results)
        finally:
            lane.task = None

    async def _commit(
        self,
        lane: Lane,
        batch: list[Pending],
        results: list[tuple[Pending, Any]],
        deadline: float,
    ) -> None:
        """Commit `batch`, splitting it around events that cannot commit."""
        events = [pending.event for pending in batch]
        started = time.monotonic()

        async def retrying(kind: Transient) -> None:
            if kind is Transient.OTHER:
                lane.drop_connection()  # replaced before the next try
            self._counters.retried()

        try:
            rows = await aretry_until(
                deadline, lambda: self._attempt(lane, events, deadline), retrying
            )
        except Exception as exc:
            split = halves(batch, exc)
            if split is None:
                logger.warning("Audit batch of %d event(s) failed: %r", len(batch), exc)
                self._counters.failed(len(batch))
                results.extend((pending, exc) for pending in batch)
                return
            for half in split:
                await self._commit(lane, half, results, deadline)
            return
        self._counters.committed(len(rows), time.monotonic() - started)
        results.extend(zip(batch, rows, strict=True))

    async def _attempt(
        self, lane: Lane, events: list[PendingEvent], deadline: float
    ) -> list[PendingEvent]:
        """One try, cut off at the deadline (at least MIN_ATTEMPT_SECONDS).

        Cut off, the connection is closed *before* the try is cancelled:
        psycopg would otherwise ask the server to cancel the statement and
        wait up to 10 s for an answer a partition never brings.
        """
        bound = max(deadline - time.monotonic(), MIN_ATTEMPT_SECONDS)
        attempt = asyncio.ensure_future(self._try(lane, events))
        try:
            done, _ = await asyncio.wait({attempt}, timeout=bound)
        except asyncio.CancelledError:
            lane.drop_connection()
            attempt.cancel()
            raise
        if done:
            return attempt.result()
        lane.drop_connection()
        attempt.cancel()
        await asyncio.wait({attempt})
        if not attempt.cancelled():
            attempt.exception()  # retrieved: its outcome is the cut-off below
        # Transient, as a lost connection is (audit/retry.py).
        raise OperationalError(
            f"the audit batch did not commit within {bound:.1f} s"
        ) from psycopg.OperationalError("audit batch attempt timed out")

    async def _try(self, lane: Lane, events: list[PendingEvent]) -> list[PendingEvent]:
        """Connect if needed, read the head if unknown, insert `events`."""
        tail = lane.tail
        try:
            if lane.connection is None or lane.connection.closed:
                lane.connection = await aconnect(self._conninfo)
            connection = lane.connection
            with _django_errors:
                if tail.head is None:
                    tail.head = await aread_head(connection, tail.chain_id)
                statement = tail.place(events, django_connection())
                cursor = await connection.execute(*statement)
                ids = [row[0] for row in await cursor.fetchall()]
        except BaseException as exc:
            tail.failed(exc)  # raises StaleHead for a moved head
            raise
        return tail.committed(events, ids)

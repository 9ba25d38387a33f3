"""What both group-commit writers keep: counters, events in hand, drains.

The writer thread (audit/writer.py) and the PostgreSQL writer on the event
loop (audit/writer_pg_async.py) differ only in how a batch reaches the
database. Everything around it is here, once:

- `Counters`: events written and failed, transactions, retries; every
  successful batch commit goes through `Counters.committed(size, seconds)`,
  the one place a metric of batch size and commit time belongs;
- `InHand`: the events handed over and not yet settled. It delivers each
  outcome on the event loop of the caller who is waiting for it (several
  loops, one per test, may share a writer), feeds the backlog that
  readiness reads (audit/writer_backlog.py) and wakes `drain`;
- `halves`: the poison-event rule, when a failed batch is split.
"""

import asyncio
import contextlib
import logging
import threading
from dataclasses import dataclass
from typing import Any, TypeVar

from audit.metrics import observe_audit_batch
from audit.retry import transient_kind
from audit.services import PendingEvent
from audit.writer_backlog import Backlog, BacklogSnapshot

T = TypeVar("T")

MAX_BATCH = 256
"""The most events one transaction holds."""
DRAIN_SECONDS = 25.0
"""How long `drain` waits for what is queued. Longer than a batch's retry
deadline (RETRY_SECONDS), so a batch retrying at shutdown still settles;
the MCP app's shutdown (mcpserver/asgi.py) allows for it and for
STOP_SECONDS, so the count of events left uncommitted is always logged."""
STOP_SECONDS = 10.0
"""How long `stop` waits for the writer to finish what it holds."""


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


class Counters:
    """`WriterStats`, safe to update from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stats = WriterStats()

    def committed(self, size: int, seconds: float) -> None:
        """Count one batch of `size` events, committed `seconds` after it was
        taken from the queue (retries included); also the /metrics histograms
        of either writer (audit/metrics.py)."""
        with self._lock:
            self._stats.events_written += size
            self._stats.transactions_committed += 1
            self._stats.largest_batch = max(self._stats.largest_batch, size)
        observe_audit_batch(size, seconds)

    def failed(self, count: int) -> None:
        """Count `count` events whose callers got an error."""
        with self._lock:
            self._stats.events_failed += count

    def retried(self) -> None:
        """Count one retry of a batch."""
        with self._lock:
            self._stats.retries += 1

    def snapshot(self) -> WriterStats:
        """A copy of the counters."""
        with self._lock:
            return WriterStats(**vars(self._stats))

    def reset(self) -> None:
        """Zero the counters (tests, benchmarks)."""
        with self._lock:
            self._stats = WriterStats()


@dataclass
class Pending:
    """An event handed to a writer, and the future its caller awaits."""

    event: PendingEvent
    future: asyncio.Future[PendingEvent]
    loop: asyncio.AbstractEventLoop


def _settle_all(results: list[tuple[asyncio.Future[PendingEvent], Any]]) -> None:
    """Resolve futures on their loop (but not those their callers gave up on)."""
    for future, outcome in results:
        if future.done():
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running in this thread, if any."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class InHand:
    """Events handed to a writer and not yet settled (see the module docstring).

    `logger` is the writer's: a drain that gives up says so there.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._lock = threading.Lock()
        self._unsettled = 0
        # Drains waiting for there to be none, each an asyncio.Event on its
        # own loop.
        self._drains: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self._backlog = Backlog()

    def add(self) -> None:
        """Count in one event, handed over now (before it is queued)."""
        with self._lock:
            self._unsettled += 1
            self._backlog.add()

    def settle(self, results: list[tuple[Pending, Any]]) -> None:
        """Deliver each outcome (a stored event or an exception) to its caller.

        From any thread: on the caller's loop directly when that is the
        running one, else through `call_soon_threadsafe`. A closed loop has
        nobody waiting any more. Drains are woken after the outcomes.
        """
        here = running_loop()
        by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = {}
        for pending, outcome in results:
            by_loop.setdefault(pending.loop, []).append((pending.future, outcome))
        for loop, outcomes in by_loop.items():
            if loop is here:
                _settle_all(outcomes)
            else:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_settle_all, outcomes)
        with self._lock:
            self._unsettled -= len(results)
            self._backlog.settle(len(results))
            if self._unsettled or not self._drains:
                return
            drains, self._drains = self._drains, []
        for loop, idle in drains:  # after the outcomes, on each loop
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(idle.set)

    async def drain(self, seconds: float) -> None:
        """Wait until every event counted in is settled, at most `seconds`.

        Woken once, when the last one settles. On giving up, logs
        (WARNING) how many events are still not committed.
        """
        idle = asyncio.Event()
        with self._lock:
            if not self._unsettled:
                return
            entry = (asyncio.get_running_loop(), idle)
            self._drains.append(entry)
        try:
            async with asyncio.timeout(seconds):
                await idle.wait()
        except TimeoutError:
            with self._lock:
                left = self._unsettled
            self._logger.warning(
                "The audit writer drain gave up after %.1f s: %d event(s) not "
                "committed",
                seconds,
                left,
            )
        finally:
            with self._lock, contextlib.suppress(ValueError):
                self._drains.remove(entry)

    def backlog(self) -> BacklogSnapshot:
        """Events not yet settled and the oldest one's age (any thread)."""
        return self._backlog.snapshot()


def halves(batch: list[T], exc: BaseException) -> tuple[list[T], list[T]] | None:
    """The two halves to commit on their own after `batch` failed with `exc`.

    None when every event of `batch` gets `exc` instead: the batch is a
    single event (the poison one, if any), or the failure is transient and
    persisted to the deadline (fail closed; splitting would not cure it).
    Any other failure may be one event's doing, so the batch is split
    until it is found.
    """
    if len(batch) == 1 or transient_kind(exc) is not None:
        return None
    middle = len(batch) // 2
    return batch[:middle], batch[middle:]


class Bookkept:
    """What both writers answer from their `Counters` and `InHand`.

    A writer sets `_counters` and `_in_hand` in its constructor.
    """

    _counters: Counters
    _in_hand: InHand

    def stats(self) -> WriterStats:
        """A snapshot of the counters."""
        return self._counters.snapshot()

    def reset_stats(self) -> None:
        """Zero the counters (tests, benchmarks)."""
        self._counters.reset()

    def backlog(self) -> BacklogSnapshot:
        """Events not yet settled and the oldest one's age (any thread)."""
        return self._in_hand.backlog()

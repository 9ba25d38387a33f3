"""Retrying an audit batch: which failures, how soon, and for how long.

Both group-commit writers run each batch through one schedule: the
writer thread (audit/writer.py) in `retry_until`, the PostgreSQL writer on
the event loop (audit/writer_pg_async.py) in `aretry_until`. A failure is retried if
`transient_kind` names it; how soon depends on the kind, and no retry
starts after the batch's deadline (`RETRY_SECONDS` after it was taken from
the queue), so a caller's wait for its audit row is bounded.
"""

import asyncio
import enum
import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from django.db import InterfaceError, OperationalError

T = TypeVar("T")

RETRY_SECONDS = 20.0
"""How long one batch keeps retrying before its callers get the error.

Every caller in the batch holds an answer until its row is durable, so
retrying must end: past the deadline the batch fails and so does each call
it audits (fail closed). 20 s is the busy timeout of the other SQLite
connections (config/settings.py): the writer waits out another process's
write as patiently as a plain Django connection would. It stays below the
writer's shutdown drain (DRAIN_SECONDS in audit/writer.py), so a batch
retrying at shutdown still settles before the drain gives up.
"""

_FIRST_DELAY = 0.0001  # seconds before the first retry; doubles after each


class StaleHead(OperationalError):
    """The chain head in the table is not the one the writer remembered."""


class Transient(enum.Enum):
    """A failure a retry may cure; the value is the longest wait between tries.

    - STALE_HEAD: the chain head moved (a commit whose acknowledgement was
      lost, or a row appended behind the writer's back); the head is read
      again and the batch retried at once.
    - BUSY: another connection holds SQLite's write lock. The statement
      changed nothing. SQLite's own busy handler sleeps 1, 2, 5, 10 ...
      100 ms between tries, so with several worker processes most of a
      batch's latency would be spent asleep after the lock was free: the
      writer's connection has no busy timeout and tries every 0.1-2 ms.
    - OTHER: a lost connection, a PostgreSQL serialization failure,
      deadlock or restart, a pool timeout; the connection is replaced and
      tries back off up to 100 ms apart.
    """

    STALE_HEAD = 0.0
    BUSY = 0.002
    OTHER = 0.1


# PostgreSQL errors worth retrying: serialization failure, deadlock, lock
# not available, admin/crash shutdown, cannot connect now, too many
# connections; and every connection exception (class 08).
_TRANSIENT_SQLSTATES = frozenset(
    {"40001", "40P01", "55P03", "57P01", "57P02", "57P03", "53300"}
)


def transient_kind(exc: BaseException) -> Transient | None:
    """Return which transient failure `exc` is, or None if retrying is futile."""
    if isinstance(exc, StaleHead):
        return Transient.STALE_HEAD
    if not isinstance(exc, OperationalError | InterfaceError):
        return None
    cause = exc.__cause__
    if isinstance(cause, sqlite3.Error) or cause is None:
        message = str(exc).lower()
        return Transient.BUSY if "locked" in message or "busy" in message else None
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate is None:
        # psycopg raises connection-level failures (connection lost, pool
        # timeout) without a SQLSTATE.
        return Transient.OTHER
    if sqlstate in _TRANSIENT_SQLSTATES or sqlstate.startswith("08"):
        return Transient.OTHER
    return None


class _Backoff:
    """When to try a failed batch again: the one schedule of both retry loops."""

    def __init__(self, deadline: float, clock: Callable[[], float]) -> None:
        self.deadline = deadline
        self.clock = clock
        self.delay = _FIRST_DELAY

    def wait_after(self, exc: Exception) -> tuple[Transient, float] | None:
        """The kind of `exc` and the wait before the next try, or None to give up.

        None for a failure that is not transient, or one met at or after
        the deadline.
        """
        kind = transient_kind(exc)
        remaining = self.deadline - self.clock()
        if kind is None or remaining <= 0:
            return None
        if kind is Transient.STALE_HEAD:
            return kind, 0.0
        wait = min(self.delay, kind.value, remaining)
        self.delay = min(self.delay * 2, Transient.OTHER.value)
        return kind, wait


def retry_until(
    deadline: float,
    attempt: Callable[[], T],
    on_retry: Callable[[Transient], None],
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Return `attempt()`, retrying transient failures until `deadline`.

    `deadline` is a `clock()` time. `attempt` runs at least once; a failure
    that is not transient, or one met at or after the deadline, is raised
    as it is. Waits start at 0.1 ms and double, up to the kind's longest
    wait (`Transient`), and never reach past the deadline. `on_retry` runs
    before each retry (to count it, to replace a broken connection).
    """
    backoff = _Backoff(deadline, clock)
    while True:
        try:
            return attempt()
        except Exception as exc:
            step = backoff.wait_after(exc)
            if step is None:
                raise
            on_retry(step[0])
            if step[1]:
                sleep(step[1])


async def aretry_until(
    deadline: float,
    attempt: Callable[[], Awaitable[T]],
    on_retry: Callable[[Transient], Awaitable[None]],
) -> T:
    """`retry_until` for a coroutine: the same schedule, waits on the event loop.

    `deadline` is a `time.monotonic()` time; `on_retry` is awaited.
    """
    backoff = _Backoff(deadline, time.monotonic)
    while True:
        try:
            return await attempt()
        except Exception as exc:
            step = backoff.wait_after(exc)
            if step is None:
                raise
            await on_retry(step[0])
            if step[1]:
                await asyncio.sleep(step[1])

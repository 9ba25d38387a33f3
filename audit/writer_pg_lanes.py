"""The PostgreSQL audit writer's lanes: one per event loop.

An `AsyncConnection` and a future belong to one event loop, so the writer
(audit/writer_pg_async.py) keeps, for every loop that writes, a `Lane`:
its queue of events waiting for a commit, the task flushing it, its
connection and its chain memory. Several loops (one per test, say) can
share the writer. `Lanes` is that table: any thread may look a lane up or
take them all, and a lane whose loop has closed is retired, its connection
closed and whatever it still held failed, since nobody can be waiting on a
stopped loop.
"""

import asyncio
import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import psycopg

from audit.writer_bookkeeping import Counters, InHand, Pending
from audit.writer_pg_connection import close_now
from audit.writer_store import ChainTail

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class Lane:
    """One event loop's queue, flush task, connection and chain memory."""

    loop: asyncio.AbstractEventLoop
    queue: deque[Pending] = field(default_factory=deque)
    task: asyncio.Task[None] | None = None
    connection: psycopg.AsyncConnection[Any] | None = None
    tail: ChainTail = field(default_factory=ChainTail)

    def drop_connection(self) -> None:
        """Close the connection (broken, or in an unknown state); the next
        attempt opens another and reads the chain head again."""
        close_now(self.connection)
        self.connection = None
        self.tail.head = None


class Lanes:
    """One writer's lanes by event loop; safe to use from any thread.

    Retiring a lane settles its events through the writer's `InHand` and
    counts them failed in its `Counters`, so a lane's events are never
    left in hand.
    """

    def __init__(self, in_hand: InHand, counters: Counters) -> None:
        self._by_loop: dict[asyncio.AbstractEventLoop, Lane] = {}
        self._lock = threading.Lock()
        self._in_hand = in_hand
        self._counters = counters

    def of(self, loop: asyncio.AbstractEventLoop) -> Lane:
        """The lane of `loop`, opened on its first write. Opening one
        retires the lanes of loops that have closed since."""
        lane = self._by_loop.get(loop)  # the hot path takes no lock
        if lane is not None:
            return lane
        with self._lock:
            gone = [lane for lane in self._by_loop.values() if lane.loop.is_closed()]
            for lane in gone:
                del self._by_loop[lane.loop]
            lane = self._by_loop.setdefault(loop, Lane(loop))
        for old in gone:
            self.retire(old)
        return lane

    def take_all(self) -> list[Lane]:
        """Every lane, forgotten: a later write opens a new one."""
        with self._lock:
            lanes, self._by_loop = list(self._by_loop.values()), {}
        return lanes

    def retire(self, lane: Lane) -> None:
        """Close the connection of a lane whose loop has stopped; fail what
        it still holds (nobody can be waiting on a stopped loop)."""
        lane.drop_connection()
        left = list(lane.queue)
        lane.queue.clear()
        if left:
            logger.warning(
                "%d audit event(s) not committed: their event loop stopped",
                len(left),
            )
            self._counters.failed(len(left))
            error = RuntimeError("The event loop stopped before the audit commit.")
            self._in_hand.settle([(pending, error) for pending in left])

"""Small asyncio helpers for per-process state shared by requests."""

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopLock:
    """An asyncio.Lock for module-level state, remade for each event loop.

    Process-wide caches outlive event loops (tests run one loop per test),
    and an asyncio.Lock must not be shared between loops.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None

    def get(self) -> asyncio.Lock:
        """Return the lock for the running loop."""
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:
            self._loop, self._lock = loop, asyncio.Lock()
        return self._lock


class SharedTask:
    """At most one run of a coroutine at a time, shared by all who ask.

    `join(factory)` returns the outcome of the run in progress on the
    running loop, or starts `factory()` as a new one. Unlike a lock around
    the work, waiters never queue for turns: when the work fails, everyone
    waiting fails with it at once, and the next caller starts afresh. The
    run is a task of its own, so a caller that gives up (a timeout, a
    cancellation) does not cancel it for the others.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None

    def running(self) -> asyncio.Task | None:
        """The run in progress on the running loop, if any."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._task is None or self._task.done():
            return None
        return self._task

    async def join(self, factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Await the run in progress, or a new run of `factory()`."""
        task = self.running()
        if task is None:
            task = asyncio.get_running_loop().create_task(factory())
            # The outcome is read by whoever awaits; nobody may be left.
            task.add_done_callback(_retrieve)
            self._loop, self._task = asyncio.get_running_loop(), task
        return await asyncio.shield(task)


def _retrieve(task: asyncio.Task) -> None:
    if not task.cancelled():
        task.exception()

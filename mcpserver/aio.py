"""Small asyncio helpers for per-process state shared by requests."""

import asyncio


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

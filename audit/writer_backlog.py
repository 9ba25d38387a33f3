"""How far behind the group-commit writer is: a cheap, thread-safe gauge.

The writer (audit/writer.py) counts an event in when a caller hands it
over and out when its outcome is settled, committed or failed. Batches are
taken from its queue in order and settled whole, in that order, so the
oldest event still unsettled is the earliest one counted in and not yet
counted out: a deque of hand-over times, appended at one end and consumed
at the other, answers both "how many" and "how old is the oldest" without
looking at the queue. Two callers on different threads may count in and
enqueue in opposite orders; the age read is then off by the microseconds
between them.

Counting costs one lock and one deque operation per event, beside the
writer's own; reading it (`snapshot`) is as cheap, for /readyz.
"""

import threading
import time
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class BacklogSnapshot:
    """Events handed over and not yet settled, and the oldest one's age (s).

    `oldest_age` is 0.0 when `depth` is 0.
    """

    depth: int
    oldest_age: float


class Backlog:
    """Hand-over times of the events not yet settled, oldest first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since: deque[float] = deque()

    def add(self) -> None:
        """Count in one event handed to the writer now."""
        now = time.monotonic()
        with self._lock:
            self._since.append(now)

    def settle(self, count: int) -> None:
        """Count out the `count` oldest events (their outcomes are known)."""
        with self._lock:
            for _ in range(min(count, len(self._since))):
                self._since.popleft()

    def snapshot(self) -> BacklogSnapshot:
        """The depth and the oldest event's age, read together."""
        with self._lock:
            depth = len(self._since)
            oldest = self._since[0] if depth else None
        age = 0.0 if oldest is None else max(0.0, time.monotonic() - oldest)
        return BacklogSnapshot(depth=depth, oldest_age=age)

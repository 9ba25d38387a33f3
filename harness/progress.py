"""A one-line progress bar on a terminal, for runs that take a while."""

import time
from collections.abc import Callable
from typing import TextIO


class ProgressBar:
    """A one-line progress bar on a terminal (nothing elsewhere)."""

    def __init__(self, stream: TextIO, enabled: bool) -> None:
        self.stream, self.enabled = stream, enabled

    def start(self, label: str, total: int | None) -> Callable[[int], None] | None:
        """A callback taking the calls done so far; None when disabled.

        With a `total` it draws a bar, without one a count; it redraws at
        most every 0.1 s, and ends the line when `total` is reached.
        """
        if not self.enabled:
            return None
        width = 30
        last = 0.0

        def update(done: int) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last < 0.1 and done != total:
                return
            last = now
            if total:
                filled = width * done // total
                bar = "#" * filled + "." * (width - filled)
                self.stream.write(f"\r{label:<28} [{bar}] {done}/{total}")
            else:
                self.stream.write(f"\r{label:<28} {done} calls")
            if done == total:
                self.stream.write("\n")
            self.stream.flush()

        return update

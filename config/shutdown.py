"""Graceful stop: readiness goes false first, then uvicorn stops.

uvicorn (0.54) handles SIGTERM by setting its `should_exit` flag; within
0.1 s it closes its listening sockets (new connections are refused), asks
every open connection to close once its response is sent, waits for them
(`--timeout-graceful-shutdown`, unbounded by default) and then sends the
lifespan shutdown, in which the MCP app drains the audit writer
(mcpserver/asgi.py). A load balancer probing /readyz would only see
connections refused, and requests it routed meanwhile would fail to
connect.

`install_drain_on_sigterm` (called by the router once the lifespan has
started) puts a handler in front of uvicorn's for SIGTERM: the signal
marks the process as shutting down at once (/readyz answers 503 with the
check `shutting_down`), and uvicorn's own handler runs only
`drain_seconds` later (MCP_SHUTDOWN_DRAIN_SECONDS), while the process keeps
serving everything it is sent, so the balancer has time to take it out of
rotation. A second SIGTERM, or SIGINT, stops at once. With a delay of 0
uvicorn's handler is called directly.
"""

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

logger = logging.getLogger(__name__)

_began_at: float | None = None
_reason = ""


def begin(reason: str) -> bool:
    """Mark the process as shutting down; True the first time only."""
    global _began_at, _reason
    if _began_at is not None:
        return False
    _began_at, _reason = time.monotonic(), reason
    return True


def status() -> tuple[bool, str]:
    """(shutting down, words) for /readyz."""
    if _began_at is None:
        return False, "no"
    return True, f"{_reason} {time.monotonic() - _began_at:.1f} s ago: draining"


def reset() -> None:
    """Forget a shutdown (tests that run several lifespans in one process)."""
    global _began_at, _reason
    _began_at, _reason = None, ""


def install_drain_on_sigterm(drain_seconds: float) -> bool:
    """Delay uvicorn's SIGTERM handling by `drain_seconds` (see the module).

    Call from the event loop's thread, after the server installed its
    handlers (the lifespan's startup). Installs nothing, and returns
    False, off the main thread (signals can only be handled there, and
    uvicorn then handles none either) or when no Python handler is in
    place to pass the signal on to.
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    previous = signal.getsignal(signal.SIGTERM)
    if not callable(previous):
        return False
    loop = asyncio.get_running_loop()

    def pass_on(signum: int, frame: FrameType | None) -> None:
        previous(signum, frame)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        first = begin("SIGTERM received")
        if not first or drain_seconds <= 0:
            pass_on(signum, frame)
            return
        # A signal handler runs between two bytecodes of the loop's own
        # thread: only call_soon_threadsafe is safe to reach the loop from.
        loop.call_soon_threadsafe(
            _later, loop, drain_seconds, pass_on, signum, "SIGTERM"
        )

    signal.signal(signal.SIGTERM, on_sigterm)
    return True


def _later(
    loop: asyncio.AbstractEventLoop,
    delay: float,
    pass_on: Callable[[int, FrameType | None], None],
    signum: int,
    name: str,
) -> None:
    logger.warning(
        "%s: not ready; serving for %.1f s more (MCP_SHUTDOWN_DRAIN_SECONDS) "
        "before stopping",
        name,
        delay,
    )
    loop.call_later(delay, pass_on, signum, None)

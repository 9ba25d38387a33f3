"""Gauges each worker reports for itself: audit backlog, feed lag, JWKS age.

These values live in one process's memory (its audit writer's backlog, its
revocation poller, its JWKS cache), and in multiprocess mode a scrape is
answered by one worker, which cannot read the others'. So every worker
writes its own values to its file of the node's directory once a second
(`refreshing`), and the worker answering a scrape writes its own again
first (`refresh`); the scrape adds up or takes the largest of the live
workers' values, as each gauge's mode says:

- mcp_audit_queue_depth (sum): events handed to the audit writers and not
  yet committed (audit/writer_backlog.py);
- mcp_audit_oldest_event_age_seconds (max): the oldest of them;
- mcp_revocation_feed_lag_seconds (max): seconds since the last good poll
  of the revocation feed (the database's, or the issuer's in
  resource-server mode); +Inf before the first;
- mcp_jwks_age_seconds{issuer} (max, resource-server mode only): seconds
  since the issuer's JWKS was last fetched.

A worker that exits marks itself dead (`mark_process_dead`, at exit),
which drops its gauge values; one that was killed is dropped at the next
scrape.
"""

import asyncio
import atexit
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from django.conf import settings
from prometheus_client import Gauge, multiprocess

from audit import writer as audit_writer
from config import metrics_dir
from mcpserver import revocations
from mcpserver.jwks_cache import JWKS
from mcpserver.remote_feed import REMOTE_FEED

REFRESH_SECONDS = 1.0
_marks_dead_at_exit = False

AUDIT_QUEUE_DEPTH = Gauge(
    "mcp_audit_queue_depth",
    "Audit events handed to the writers and not yet committed.",
    multiprocess_mode="livesum",
)
AUDIT_OLDEST_AGE = Gauge(
    "mcp_audit_oldest_event_age_seconds",
    "Age of the oldest audit event not yet committed (seconds).",
    multiprocess_mode="livemax",
)
REVOCATION_LAG = Gauge(
    "mcp_revocation_feed_lag_seconds",
    "Seconds since the last good poll of the revocation feed (worst worker).",
    multiprocess_mode="livemax",
)
JWKS_AGE = Gauge(
    "mcp_jwks_age_seconds",
    "Resource-server mode: seconds since the issuer's JWKS was fetched (worst worker).",
    ["issuer"],
    multiprocess_mode="livemax",
)


def refresh() -> None:
    """Write this worker's current values."""
    backlog = audit_writer.backlog()
    AUDIT_QUEUE_DEPTH.set(backlog.depth)
    AUDIT_OLDEST_AGE.set(backlog.oldest_age)
    issuer = settings.MCP_AUTHORIZATION_SERVER
    if issuer:
        REVOCATION_LAG.set(REMOTE_FEED.age())
        JWKS_AGE.labels(issuer).set(JWKS.age())
    else:
        REVOCATION_LAG.set(revocations.FEED.age())


def forget_dead_workers(directory: str) -> None:
    """Drop the gauge values of workers that died without saying so."""
    for path in os.scandir(directory):
        if not path.name.startswith("gauge_live"):
            continue
        pid = metrics_dir.file_pid(Path(path.path))
        if pid is not None and not metrics_dir.alive(pid):
            multiprocess.mark_process_dead(pid, directory)


@contextlib.asynccontextmanager
async def refreshing() -> AsyncIterator[None]:
    """Refresh this worker's gauges every second while the server runs.

    When the process exits, its gauge values are removed from the node's
    directory (its counters and histograms stay in the node's totals): at
    exit rather than here, because the files stay mapped while the process
    lives, and a process that runs another lifespan (tests do) would write
    on into removed files.
    """
    global _marks_dead_at_exit
    if not _marks_dead_at_exit:
        atexit.register(
            multiprocess.mark_process_dead,
            os.getpid(),
            str(settings.MCP_METRICS_DIR),
        )
        _marks_dead_at_exit = True

    async def loop() -> None:
        while True:
            refresh()
            await asyncio.sleep(REFRESH_SECONDS)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

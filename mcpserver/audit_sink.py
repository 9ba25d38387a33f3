"""The seam through which the MCP app makes tool-call audit rows durable.

An `AuditSink` is awaited with one event's fields (as for
`audit.services.pending_event`); it returns only once the row is committed
and raises if it could not be (DESIGN invariant 2: audit before answer), in
which case the caller must not release the answer it audits. The sink of a
serving process is chosen once, at start-up (`build_sink`).
"""

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from django.conf import settings

from audit import writer
from mcpserver.db import DatabaseUnavailable

AuditSink = Callable[[Mapping[str, Any]], Awaitable[None]]


async def write_audit(event_fields: Mapping[str, Any]) -> None:
    """Hand the event to the process's group-commit writer; await its commit.

    Waits at most MCP_DB_TIMEOUT_SECONDS, then raises DatabaseUnavailable:
    the call it audits is answered 503 and its result never leaves. The
    event stays queued (the writer keeps retrying it for up to
    audit.retry.RETRY_SECONDS), so a row may still record a call whose
    caller was told to retry: an audit row without a delivered answer,
    never an answer without its row.
    """
    try:
        async with asyncio.timeout(settings.MCP_DB_TIMEOUT_SECONDS):
            await writer.write(event_fields)
    except TimeoutError:
        raise DatabaseUnavailable("the audit row was not committed in time") from None


async def _discard(event_fields: Mapping[str, Any]) -> None:
    return None


def build_sink(*, audit_tool_calls: bool) -> AuditSink:
    """The group-commit writer, or (benchmarks only) a sink that keeps nothing.

    `audit_tool_calls` is settings.MCP_AUDIT_TOOL_CALLS, which settings
    refuse to turn off without MCP_BENCHMARK.
    """
    return write_audit if audit_tool_calls else _discard

"""Audit rows for quota refusals, coalesced so a flood cannot flood the log.

Every refusal is counted, but each (tenant, client) gets at most one
`tool_denied` row (reason `rate_limited`) per WINDOW_SECONDS in each
process, carrying in `arguments["refusals"]` the number of refusals since
its previous row:

- the first refusal after a quiet window is written at once, and its 429
  leaves only after the row is committed (audit before answer);
- refusals inside the window are counted, and `flush` (run every half
  window by `run`, and once more at shutdown) writes their count in one row
  when the window has passed.

A row that cannot be written is logged and its count dropped: the request
was refused either way, and retrying would let an audit outage grow this
process's memory.
"""

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from audit.models import AuditEvent
from mcpserver.audit_sink import AuditSink
from mcpserver.auth import Principal

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 1.0
RATE_LIMITED = "rate_limited"
_FORGET_AFTER_SECONDS = 60.0


@dataclass
class _Window:
    written_at: float
    pending: int = 0
    last: dict[str, Any] | None = None


class CoalescedRefusals:
    """The per-process record of quota refusals (see the module docstring)."""

    def __init__(self, audit: AuditSink) -> None:
        self._audit = audit
        self._windows: dict[tuple[int, str], _Window] = {}

    async def refused(
        self,
        principal: Principal,
        *,
        limit: str,
        method: str,
        tool: str,
        request_id: str,
    ) -> None:
        """Count one refusal; write its row now if the window allows it."""
        key = (principal.tenant_id, principal.client_id)
        fields = {
            "event": AuditEvent.Event.TOOL_DENIED,
            "outcome": AuditEvent.Outcome.DENIED,
            "tenant_id": principal.tenant_id,
            "user_id": principal.user_id,
            "client_id": principal.client_id,
            "tool": tool,
            "reason": RATE_LIMITED,
            "request_id": request_id,
            "arguments": {"limit": limit, "method": method},
        }
        now = time.monotonic()
        window = self._windows.get(key)
        if window is not None and now - window.written_at < WINDOW_SECONDS:
            window.pending += 1
            window.last = fields
            return
        count = 1 + (window.pending if window is not None else 0)
        # Claimed before the await, so concurrent refusals count into it.
        self._windows[key] = _Window(written_at=now)
        await self._write(fields, count)

    async def flush(self, *, everything: bool = False) -> None:
        """Write the counts of windows that have passed (all, `everything`)."""
        now = time.monotonic()
        for key, window in list(self._windows.items()):
            due = everything or now - window.written_at >= WINDOW_SECONDS
            if window.pending and due and window.last is not None:
                count, fields = window.pending, window.last
                self._windows[key] = _Window(written_at=now)
                await self._write(fields, count)
            elif not window.pending and now - window.written_at > _FORGET_AFTER_SECONDS:
                del self._windows[key]

    async def run(self) -> None:
        """Flush every half window, until cancelled."""
        while True:
            await asyncio.sleep(WINDOW_SECONDS / 2)
            await self.flush()

    async def _write(self, fields: dict[str, Any], count: int) -> None:
        event = {**fields, "arguments": {**fields["arguments"], "refusals": count}}
        try:
            await self._audit(event)
        except Exception:
            logger.exception(
                "Could not audit %d rate-limited requests of tenant %s",
                count,
                fields["tenant_id"],
            )

"""The seam through which the MCP app makes audit rows durable.

`write_audit` returns only once the row is committed and raises if it could
not be (DESIGN invariant 2: audit before answer). It hands the event to the
process's group-commit writer (audit/writer.py), which commits concurrent
events together in one transaction on a database thread, so a caller waits
only for the commit that holds its own row.
"""

from collections.abc import Mapping
from typing import Any

from django.conf import settings

from audit import writer


async def write_audit(event_fields: Mapping[str, Any]) -> None:
    """Append one audit event (fields as for `audit.services.build_event`).

    Returns after the event's transaction committed; raises on any failure,
    in which case the caller must not release the answer it audits.
    """
    if not settings.MCP_AUDIT_TOOL_CALLS:  # benchmarks only (DEBUG)
        return
    await writer.write(event_fields)

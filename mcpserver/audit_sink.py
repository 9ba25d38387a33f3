"""The seam through which the MCP app makes audit rows durable.

`write_audit` returns only once the row is committed and raises if it could
not be (DESIGN invariant 2: audit before answer). Today each call is its own
transaction (`record_standalone_event` on a database thread); the
group-commit writer (audit/writer.py) will replace the body of this one
function and nothing else.
"""

from collections.abc import Mapping
from typing import Any

from audit.services import record_standalone_event
from mcpserver.db import run_db


async def write_audit(event_fields: Mapping[str, Any]) -> None:
    """Append one audit event (fields as for `audit.services.build_event`).

    Returns after the event's transaction committed; raises on any failure,
    in which case the caller must not release the answer it audits.
    """
    await run_db(record_standalone_event, **event_fields)

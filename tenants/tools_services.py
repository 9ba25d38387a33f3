"""Writes that MCP tools make to tenant data. Each function owns its transaction.

A tool that changes data records its audit row in the same transaction as
the change (STYLE §5), so the change and its record commit or roll back
together, and the tool's answer is sent only after both committed.
"""

from collections.abc import Callable, Mapping
from typing import Any

from django.db import transaction

from audit.services import record_event
from tenants.selectors import tenant_documents


@transaction.atomic(durable=True)
def purge_documents(
    *, tenant_id: int, audit_event: Callable[[int], Mapping[str, Any]]
) -> int:
    """Delete every document of `tenant_id`; return how many were deleted.

    `audit_event(count)` returns the fields of the audit event (as for
    `audit.services.pending_event`) that records the purge; it is appended in
    the same durable transaction, so if the audit write fails nothing is
    deleted and the error propagates.
    """
    _, deleted = tenant_documents(tenant_id=tenant_id).delete()
    count = deleted.get("tenants.Document", 0)
    record_event(**audit_event(count))
    return count

"""The transaction a tool that changes data runs in. It owns that transaction.

A tool that changes data records its audit row in the same transaction as
the change (STYLE §5), so the change and its record commit or roll back
together, and the tool's answer is sent only after both committed.
"""

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from django.db import transaction

from audit.services import record_event

T = TypeVar("T")


@transaction.atomic(durable=True)
def run_audited(
    work: Callable[[], T], *, audit_event: Callable[[T], Mapping[str, Any]]
) -> T:
    """Run `work()` and append the audit event `audit_event(result)`; one transaction.

    `audit_event` returns the fields of the event (as for
    `audit.services.pending_event`). If `work` raises, or the audit write
    fails, nothing `work` changed is kept and the error propagates.
    """
    result = work()
    record_event(**audit_event(result))
    return result

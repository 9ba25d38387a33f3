"""Writes to the audit log. Every audit row is created here.

`record_event` appends one event inside the caller's transaction, so an
admin or auth event commits (or rolls back) with the change it records.
`append_events` appends many at once; the group-commit writer uses it.
"""

import json
import os
import socket
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from audit.chain import GENESIS_HASH, compute_hash
from audit.models import AuditChain, AuditEvent

_chain_id: tuple[int, str] | None = None


def process_chain_id() -> str:
    """Return the chain this process appends to: host and pid.

    One chain per process keeps processes from ever waiting on each other's
    chain head. The value is recomputed after a fork.
    """
    global _chain_id
    pid = os.getpid()
    if _chain_id is None or _chain_id[0] != pid:
        _chain_id = (pid, f"{socket.gethostname()}:{pid}"[:96])
    return _chain_id[1]


def cap_arguments(arguments: Any) -> Any:
    """Return `arguments` as plain JSON data, capped at AUDIT_ARGUMENTS_MAX_BYTES.

    Oversized arguments are replaced by a marker with their size and a
    truncated preview, so one huge call cannot bloat the log.
    """
    if arguments is None:
        return {}
    text = json.dumps(arguments, cls=DjangoJSONEncoder, ensure_ascii=False, default=str)
    limit = settings.AUDIT_ARGUMENTS_MAX_BYTES
    if len(text.encode()) <= limit:
        return json.loads(text)
    return {
        "_truncated": True,
        "_bytes": len(text.encode()),
        "preview": text.encode()[: limit // 2].decode(errors="ignore"),
    }


def build_event(
    *,
    event: str,
    outcome: str = AuditEvent.Outcome.OK,
    tenant_id: int | None = None,
    user_id: int | None = None,
    client_id: str = "",
    tool: str = "",
    arguments: Any = None,
    reason: str = "",
    request_id: str = "",
    duration_ms: float | None = None,
) -> AuditEvent:
    """Return an unsaved AuditEvent with normalized fields and no chain position."""
    return AuditEvent(
        occurred_at=timezone.now(),
        event=event,
        outcome=outcome,
        tenant_id=tenant_id,
        user_id=user_id,
        client_id=client_id[:255],
        tool=tool[:64],
        arguments=cap_arguments(arguments),
        reason=reason[:2000],
        request_id=request_id[:64],
        duration_ms=None if duration_ms is None else round(duration_ms, 3),
    )


def append_events(events: Sequence[AuditEvent]) -> list[AuditEvent]:
    """Chain and insert `events` in order, inside the caller's transaction.

    Locks this process's chain head, gives each event the next sequence and
    its hash, inserts them in one statement and moves the head. Raises
    `TransactionManagementError` outside a transaction: an audit row must
    commit with what it records.
    """
    if not events:
        return []
    if not transaction.get_connection().in_atomic_block:
        raise transaction.TransactionManagementError(
            "Audit events must be appended inside a transaction."
        )
    chain_id = process_chain_id()
    head, _ = AuditChain.objects.select_for_update().get_or_create(
        chain_id=chain_id, defaults={"last_hash": GENESIS_HASH}
    )
    sequence, prev_hash = head.last_sequence, head.last_hash
    for event in events:
        sequence += 1
        event.chain_id = chain_id
        event.sequence = sequence
        event.prev_hash = prev_hash
        event.hash = compute_hash(event)
        prev_hash = event.hash
    created = AuditEvent.objects.bulk_create(events)
    head.last_sequence, head.last_hash = sequence, prev_hash
    head.save(update_fields=["last_sequence", "last_hash"])
    return created


def record_event(**fields: Any) -> AuditEvent:
    """Append one event (fields as for `build_event`) in the caller's transaction."""
    return append_events([build_event(**fields)])[0]


@transaction.atomic(durable=True)
def record_standalone_event(**fields: Any) -> AuditEvent:
    """Append one event that records no other change, in its own transaction."""
    return record_event(**fields)

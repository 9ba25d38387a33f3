"""Writes to the audit log. Every audit row is created here.

`record_event` appends one event inside the caller's transaction, so an
admin or auth event commits (or rolls back) with the change it records.
`append_events` appends many at once. Tool calls are audited through the
group-commit writer (audit/writer.py), which shares the row format here.
"""

import functools
import json
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from audit.chain import (
    ARGUMENTS_ENCODER,
    CONTENT_FIELDS,
    GENESIS_HASH,
    content_digest,
    link_hash,
)
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


def _capped(arguments: Any) -> tuple[Any, str]:
    """`arguments` as plain JSON data and as canonical JSON text, capped."""
    if arguments is None:
        return {}, "{}"
    text = ARGUMENTS_ENCODER.encode(arguments)
    size = len(text.encode())
    limit = settings.AUDIT_ARGUMENTS_MAX_BYTES
    if size <= limit:
        return json.loads(text), text
    marker = {
        "_truncated": True,
        "_bytes": size,
        "preview": text.encode()[: limit // 2].decode(errors="ignore"),
    }
    return marker, ARGUMENTS_ENCODER.encode(marker)


def cap_arguments(arguments: Any) -> Any:
    """Return `arguments` as plain JSON data, capped at AUDIT_ARGUMENTS_MAX_BYTES.

    Oversized arguments are replaced by a marker with their size and a
    truncated preview, so one huge call cannot bloat the log.
    """
    return _capped(arguments)[0]


@dataclass(slots=True)
class PendingEvent:
    """An audit event on its way to the table, with the columns of AuditEvent.

    The group-commit writer carries these instead of model instances (a
    model instance costs several times as much to build, on every call).
    `append_events` takes either; once stored, `pk` and the chain fields
    are set.
    """

    occurred_at: datetime
    event: str
    outcome: str
    tenant_id: int | None
    user_id: int | None
    client_id: str
    tool: str
    arguments: Any
    reason: str
    request_id: str
    duration_ms: float | None
    # The content digest (audit/chain.py) and the arguments as JSON text,
    # computed once where the event is made.
    digest: str = ""
    arguments_json: str = "{}"
    chain_id: str = ""
    sequence: int = 0
    prev_hash: str = ""
    hash: str = ""
    pk: int | None = None


def pending_event(
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
) -> PendingEvent:
    """Return an event with normalized fields, its digest, no chain position."""
    value, text = _capped(arguments)
    pending = PendingEvent(
        occurred_at=timezone.now(),
        event=event,
        outcome=outcome,
        tenant_id=tenant_id,
        user_id=user_id,
        client_id=client_id[:255],
        tool=tool[:64],
        arguments=value,
        reason=reason[:2000],
        request_id=request_id[:64],
        duration_ms=None if duration_ms is None else round(duration_ms, 3),
        arguments_json=text,
    )
    pending.digest = content_digest(pending, arguments_json=text)
    return pending


def build_event(**fields: Any) -> AuditEvent:
    """Return an unsaved AuditEvent (fields as for `pending_event`)."""
    pending = pending_event(**fields)
    return AuditEvent(**{name: getattr(pending, name) for name in CONTENT_FIELDS})


EVENT_FIELDS = [
    field for field in AuditEvent._meta.concrete_fields if not field.primary_key
]
# Only these need the backend's adaptation (timestamps, JSON); the other
# columns take the attribute's str, int, float or None as they are.
_ADAPTED = frozenset(
    field.attname
    for field in EVENT_FIELDS
    if isinstance(field, models.DateTimeField | models.JSONField)
)


@functools.lru_cache(maxsize=1024)
def insert_sql(count: int, *, placeholder: str = "%s", json_cast: str = "") -> str:
    """One multi-row INSERT of `count` events, returning their ids in order.

    Values go in `EVENT_FIELDS` order; `json_cast` (e.g. "::jsonb") is
    appended to the arguments placeholder when they are passed as text.
    """
    columns = ", ".join(field.column for field in EVENT_FIELDS)
    row = (
        "("
        + ", ".join(
            placeholder + (json_cast if field.attname == "arguments" else "")
            for field in EVENT_FIELDS
        )
        + ")"
    )
    return (
        f"INSERT INTO {AuditEvent._meta.db_table} ({columns}) "  # noqa: S608
        f"VALUES {', '.join([row] * count)} RETURNING id"
    )


def chain_events(
    events: Sequence[AuditEvent | PendingEvent],
    *,
    chain_id: str,
    sequence: int,
    prev_hash: str,
) -> tuple[int, str]:
    """Give `events` the next places in `chain_id`; return the new head."""
    for event in events:
        sequence += 1
        event.chain_id = chain_id
        event.sequence = sequence
        event.prev_hash = prev_hash
        digest = getattr(event, "digest", "") or content_digest(event)
        event.hash = link_hash(chain_id, sequence, prev_hash, digest)
        prev_hash = event.hash
    return sequence, prev_hash


def _lock_chain_head(cursor: Any, chain_id: str) -> tuple[int, str]:
    """Return (last sequence, last hash) of `chain_id`, its row locked.

    PostgreSQL locks the head row (FOR UPDATE) until the transaction ends;
    SQLite needs no row lock, its IMMEDIATE transaction holds the write
    lock. A missing head is created (racing creators are harmless).
    """
    connection = transaction.get_connection()
    table = AuditChain._meta.db_table
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    select = f"SELECT last_sequence, last_hash FROM {table} WHERE chain_id = %s{lock}"  # noqa: S608
    cursor.execute(select, [chain_id])
    row = cursor.fetchone()
    if row is None:
        created_at = AuditChain._meta.get_field("created_at").get_db_prep_save(
            timezone.now(), connection
        )
        cursor.execute(
            f"INSERT INTO {table} (chain_id, last_sequence, last_hash, created_at) "  # noqa: S608
            "VALUES (%s, 0, %s, %s) ON CONFLICT (chain_id) DO NOTHING",
            [chain_id, GENESIS_HASH, created_at],
        )
        cursor.execute(select, [chain_id])
        row = cursor.fetchone()
    return int(row[0]), str(row[1])


def append_events(
    events: Sequence[AuditEvent | PendingEvent],
) -> list[AuditEvent | PendingEvent]:
    """Chain and insert `events` in order, inside the caller's transaction.

    Locks this process's chain head, gives each event the next sequence and
    its hash and inserts them in one statement (the chain-head trigger moves
    the head); returns the
    events, saved (with their ids). Raises `TransactionManagementError`
    outside a transaction: an audit row must commit with what it records.
    (Tool calls go through audit/writer.py, which keeps a chain of its own.)
    """
    if not events:
        return []
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        raise transaction.TransactionManagementError(
            "Audit events must be appended inside a transaction."
        )
    chain_id = process_chain_id()
    with connection.cursor() as cursor:
        sequence, prev_hash = _lock_chain_head(cursor, chain_id)
        chain_events(events, chain_id=chain_id, sequence=sequence, prev_hash=prev_hash)
        params = [
            field.get_db_prep_save(getattr(event, field.attname), connection)
            if field.attname in _ADAPTED
            else getattr(event, field.attname)
            for event in events
            for field in EVENT_FIELDS
        ]
        # The chain-head trigger (audit/triggers.py) moves the head.
        cursor.execute(insert_sql(len(events)), params)
        ids = [row[0] for row in cursor.fetchall()]
    for event, pk in zip(events, ids, strict=True):
        event.pk = pk
        if isinstance(event, AuditEvent):
            event._state.adding = False
            event._state.db = connection.alias
    return list(events)


def record_event(**fields: Any) -> AuditEvent:
    """Append one event (fields as for `build_event`) in the caller's transaction."""
    return append_events([build_event(**fields)])[0]


@transaction.atomic(durable=True)
def record_standalone_event(**fields: Any) -> AuditEvent:
    """Append one event that records no other change, in its own transaction."""
    return record_event(**fields)

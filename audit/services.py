"""Audit events: how one is made, and `record_event`, which appends one.

Product code writes an audit row one of two ways (DESIGN invariant 2):
`record_event`, inside the transaction of the change it records, so the
row commits (or rolls back) with it; or, for a tool call, an event handed
to the group-commit writer (`audit.writer.write`) and awaited before the
answer. Both make the event with `pending_event`, give it its place with
`chain_events` and insert it with audit/batch_sql.py.
"""

import json
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit import batch_sql
from audit.chain import ARGUMENTS_ENCODER, content_digest, link_hash
from audit.models import AuditEvent
from audit.request_source import current_source

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


# PostgreSQL's text and jsonb cannot hold NUL (U+0000), which JSON strings
# may carry ("\u0000"): it is recorded as U+FFFD, the replacement character,
# on every backend, so a row hashes alike wherever it is stored.
_NUL = "\x00"
_NUL_ESCAPED = "\\u0000"
_REPLACEMENT = "\ufffd"


def _without_nul(value: Any) -> Any:
    """`value` (plain JSON data) with NUL in every string replaced by U+FFFD."""
    if isinstance(value, str):
        return value.replace(_NUL, _REPLACEMENT)
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_nul(item) for item in value]
    return value


def _text(value: str) -> str:
    return value.replace(_NUL, _REPLACEMENT) if _NUL in value else value


def _capped(arguments: Any) -> tuple[Any, str]:
    """`arguments` as plain JSON data and as canonical JSON text, capped."""
    if arguments is None:
        return {}, "{}"
    text = ARGUMENTS_ENCODER.encode(arguments)
    if _NUL_ESCAPED in text:  # rare: only then walk the data
        text = ARGUMENTS_ENCODER.encode(_without_nul(json.loads(text)))
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


@dataclass(slots=True)
class PendingEvent:
    """An audit event on its way to the table, with the columns of AuditEvent.

    Both ways of writing a row carry these rather than model instances (a
    model instance costs several times as much to build, on every tool
    call). Once stored, `pk` and the chain fields are set.
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
    source_ip: str | None = None
    user_agent: str | None = None
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
    """Return an event with normalized fields, its digest, no chain position.

    Made while a web request is handled, the event records that request's
    address and user agent (audit/request_source.py).
    """
    value, text = _capped(arguments)
    source = current_source()
    pending = PendingEvent(
        occurred_at=timezone.now(),
        event=event,
        outcome=outcome,
        tenant_id=tenant_id,
        user_id=user_id,
        client_id=_text(client_id[:255]),
        tool=_text(tool[:64]),
        arguments=value,
        reason=_text(reason[:2000]),
        request_id=_text(request_id[:64]),
        duration_ms=None if duration_ms is None else round(duration_ms, 3),
        source_ip=source.ip if source else None,
        user_agent=source.user_agent if source else None,
        arguments_json=text,
    )
    pending.digest = content_digest(pending, arguments_json=text)
    return pending


def chain_events(
    events: Sequence[PendingEvent],
    *,
    chain_id: str,
    sequence: int,
    prev_hash: str,
) -> tuple[int, str]:
    """Give `events` the places after (`sequence`, `prev_hash`) in `chain_id`.

    Returns the chain's head once they are in: (last sequence, last hash).
    """
    for event in events:
        sequence += 1
        event.chain_id = chain_id
        event.sequence = sequence
        event.prev_hash = prev_hash
        event.hash = link_hash(chain_id, sequence, prev_hash, event.digest)
        prev_hash = event.hash
    return sequence, prev_hash


def record_event(**fields: Any) -> AuditEvent:
    """Append one event (fields as for `pending_event`) in the caller's transaction.

    Locks this process's chain head, gives the event the next place in it
    and inserts it; the row commits or rolls back with the caller's
    transaction. Returns the saved AuditEvent. Raises
    `TransactionManagementError` outside a transaction (an audit row must
    commit with what it records), and the database error if the insert
    fails (the caller's transaction then cannot commit either).
    """
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        raise transaction.TransactionManagementError(
            "Audit events must be appended inside a transaction."
        )
    connection.validate_no_broken_transaction()
    event = pending_event(**fields)
    chain_id = process_chain_id()
    with connection.wrap_database_errors:
        cursor = connection.connection.cursor()
        try:
            sequence, prev_hash = batch_sql.read_head(cursor, chain_id, connection)
            chain_events(
                [event], chain_id=chain_id, sequence=sequence, prev_hash=prev_hash
            )
            (event.pk,) = batch_sql.execute_insert(
                cursor, batch_sql.insert_statement([event], connection)
            )
        finally:
            cursor.close()
    row = AuditEvent(
        pk=event.pk, **{name: getattr(event, name) for name in batch_sql.EVENT_FIELDS}
    )
    row._state.adding = False
    row._state.db = connection.alias
    return row

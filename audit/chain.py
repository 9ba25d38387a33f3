"""The audit hash chain: canonical content and row hashes.

A row's hash is SHA-256 over the canonical JSON of its content plus the
previous row's hash in the same chain. Anything that changes a recorded
field, drops a row or reorders rows breaks the chain at that row.
"""

import hashlib
import json
from datetime import datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

GENESIS_HASH = "0" * 64

# The fields a row's hash covers, in a fixed order.
HASHED_FIELDS = (
    "chain_id",
    "sequence",
    "prev_hash",
    "occurred_at",
    "event",
    "outcome",
    "tenant_id",
    "user_id",
    "client_id",
    "tool",
    "arguments",
    "reason",
    "request_id",
    "duration_ms",
)


def _normalize(value: Any) -> Any:
    if isinstance(value, datetime):
        # Microsecond precision survives both SQLite and PostgreSQL.
        return value.isoformat(timespec="microseconds")
    if isinstance(value, float):
        # Rounded so the value reads back identically from every backend.
        return round(value, 3)
    return value


def canonical_content(row: Any) -> bytes:
    """Return the canonical bytes of `row` (an AuditEvent or alike) for hashing."""
    content = {name: _normalize(getattr(row, name)) for name in HASHED_FIELDS}
    return json.dumps(
        content,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        cls=DjangoJSONEncoder,
    ).encode()


def compute_hash(row: Any) -> str:
    """Return the hex SHA-256 of `row`'s canonical content (which holds prev_hash)."""
    return hashlib.sha256(canonical_content(row)).hexdigest()

"""The audit hash chain: canonical content, content digests and row hashes.

A row's hash is two SHA-256 steps:

- its *content digest* covers the canonical form of what it records
  (CONTENT_FIELDS: time, event, outcome, tenant, user, client, tool,
  arguments, reason, request id, duration; then SOURCE_FIELDS, source
  address and user agent, when either is set), `canonical_content`;
- its *hash* covers its chain, its sequence, the previous row's hash in
  that chain and its content digest (`link_hash`).

Anything that changes a recorded field, drops a row or reorders rows breaks
the chain at that row. The split lets the longer part be computed where the
event is made, before its place in the chain is known, and leaves only a
short hash to the writer that assigns sequences.
"""

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

GENESIS_HASH = "0" * 64
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

# The fields a row's content digest covers, in a fixed order.
CONTENT_FIELDS = (
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
# Where a web event came from. Written after CONTENT_FIELDS only when one is
# set, so rows made before these columns existed (and tool calls, which
# have neither) keep the digest they were chained with.
SOURCE_FIELDS = ("source_ip", "user_agent")
# Everything a row's hash depends on.
HASHED_FIELDS = ("chain_id", "sequence", "prev_hash", *CONTENT_FIELDS, *SOURCE_FIELDS)

ARGUMENTS_ENCODER = DjangoJSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False
)
"""The canonical JSON of a row's arguments: what is stored and hashed."""


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        # Microseconds since the epoch: exact, and what both SQLite and
        # PostgreSQL keep.
        return str((value - _EPOCH) // _MICROSECOND)
    if isinstance(value, float):
        # Rounded so the value reads back identically from every backend.
        return repr(round(value, 3))
    return str(value)


def canonical_content(row: Any, *, arguments_json: str | None = None) -> bytes:
    """The canonical bytes of what `row` (an AuditEvent or alike) records.

    Each field is written as `<length>:<text>` in CONTENT_FIELDS order, so
    no value can spill into its neighbour; the arguments as canonical JSON
    (sorted keys, no spaces), passed in when already encoded. SOURCE_FIELDS
    follow only if one of them is set (None and "" read alike).
    """
    parts = []
    for name in CONTENT_FIELDS:
        if name == "arguments":
            text = (
                arguments_json
                if arguments_json is not None
                else ARGUMENTS_ENCODER.encode(row.arguments)
            )
        else:
            text = _text(getattr(row, name))
        parts.append(f"{len(text)}:{text}")
    sources = [_text(getattr(row, name, None)) for name in SOURCE_FIELDS]
    if any(sources):
        parts += [f"{len(text)}:{text}" for text in sources]
    return "\n".join(parts).encode()


def content_digest(row: Any, *, arguments_json: str | None = None) -> str:
    """The hex SHA-256 of `row`'s canonical content."""
    return hashlib.sha256(
        canonical_content(row, arguments_json=arguments_json)
    ).hexdigest()


def link_hash(chain_id: str, sequence: int, prev_hash: str, digest: str) -> str:
    """The hash of the row at `sequence` of `chain_id`, after `prev_hash`."""
    return hashlib.sha256(
        f"{chain_id}\n{sequence}\n{prev_hash}\n{digest}".encode()
    ).hexdigest()


def compute_hash(row: Any) -> str:
    """Return `row`'s hash from its chain position and its content."""
    return link_hash(row.chain_id, row.sequence, row.prev_hash, content_digest(row))

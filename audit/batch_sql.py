"""The SQL that appends audit rows: one chain head read, one multi-row INSERT.

Both ways of writing an audit row use it: `record_event`, inside the
transaction of the change it records, and the group-commit writer, on a
connection of its own in autocommit mode (the writer thread's, or on
PostgreSQL a psycopg AsyncConnection on the event loop, which runs the
same statements with `await`). Statements run on the
DB-API cursor under Django's connection (`connection.connection.cursor()`,
within `connection.wrap_database_errors`): the writer's batches skip the
Django cursor wrapper's per-statement work, and placeholders are the
driver's own (`?` for SQLite, `%s` for psycopg).
"""

import functools
import json
import operator
from collections.abc import Sequence
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from audit.chain import GENESIS_HASH
from audit.models import AuditChain, AuditEvent

_FIELDS = [field for field in AuditEvent._meta.concrete_fields if not field.primary_key]
EVENT_FIELDS = tuple(field.attname for field in _FIELDS)
"""The columns an INSERT fills, in order (attribute names of AuditEvent)."""

_COLUMNS = ", ".join(field.column for field in _FIELDS)
_EVENTS = AuditEvent._meta.db_table
_CHAINS = AuditChain._meta.db_table
# A PendingEvent's values in EVENT_FIELDS order; the arguments as JSON text.
_VALUES = operator.attrgetter(
    *("arguments_json" if name == "arguments" else name for name in EVENT_FIELDS)
)
_TIME = EVENT_FIELDS.index("occurred_at")  # the one value needing adaptation


def _mark(vendor: str) -> str:
    return "?" if vendor == "sqlite" else "%s"


@functools.lru_cache(maxsize=1024)
def insert_sql(count: int, vendor: str) -> str:
    """One INSERT of `count` rows (values as `insert_params`), returning ids.

    The ids come back in the order of the rows. On PostgreSQL the arguments
    arrive as JSON text and are cast to jsonb in the statement.
    """
    mark = _mark(vendor)
    json_mark = mark if vendor == "sqlite" else f"{mark}::jsonb"
    row = (
        "("
        + ", ".join(json_mark if name == "arguments" else mark for name in EVENT_FIELDS)
        + ")"
    )
    return (
        f"INSERT INTO {_EVENTS} ({_COLUMNS}) "  # noqa: S608
        f"VALUES {', '.join([row] * count)} RETURNING id"
    )


def insert_params(events: Sequence[Any], connection: BaseDatabaseWrapper) -> list[Any]:
    """The values of `insert_sql(len(events), ...)` for chained PendingEvents."""
    adapt_time = connection.ops.adapt_datetimefield_value
    params: list[Any] = []
    for event in events:
        values = list(_VALUES(event))
        values[_TIME] = adapt_time(values[_TIME])
        params += values
    return params


Statement = tuple[str, list[Any]]


def head_statements(
    chain_id: str, connection: BaseDatabaseWrapper
) -> tuple[Statement, Statement]:
    """The SELECT of `chain_id`'s head and the INSERT creating it if missing.

    Run the SELECT; if it finds no row, the INSERT, then the SELECT again
    (`read_head`). In a transaction on PostgreSQL the head row stays locked
    (FOR UPDATE) until it ends, so threads of one process appending to its
    chain take turns; SQLite's IMMEDIATE transactions already hold the
    write lock. Racing creators of a missing head are harmless (ON
    CONFLICT DO NOTHING).
    """
    mark = _mark(connection.vendor)
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    select = (
        f"SELECT last_sequence, last_hash FROM {_CHAINS} "  # noqa: S608
        f"WHERE chain_id = {mark}{lock}"
    )
    create = (
        f"INSERT INTO {_CHAINS} "  # noqa: S608
        "(chain_id, last_sequence, last_hash, created_at) "
        f"VALUES ({mark}, 0, {mark}, {mark}) ON CONFLICT (chain_id) DO NOTHING"
    )
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    return (select, [chain_id]), (create, [chain_id, GENESIS_HASH, now])


def read_head(
    cursor: Any, chain_id: str, connection: BaseDatabaseWrapper
) -> tuple[int, str]:
    """Return (last sequence, last hash) of `chain_id`, creating it if missing.

    On a DB-API cursor; see `head_statements` for the locking.
    """
    select, create = head_statements(chain_id, connection)
    cursor.execute(*select)
    row = cursor.fetchone()
    if row is None:
        cursor.execute(*create)
        cursor.execute(*select)
        row = cursor.fetchone()
    return int(row[0]), str(row[1])


def insert_statement(
    events: Sequence[Any], connection: BaseDatabaseWrapper
) -> Statement:
    """The INSERT of chained PendingEvents `events` and its values."""
    return insert_sql(len(events), connection.vendor), insert_params(events, connection)


_BATCH_ENCODER = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False
)
_DURATION = EVENT_FIELDS.index("duration_ms")


_JSON_BATCH_SQL: dict[str, str] = {}


def _json_batch_sql(connection: BaseDatabaseWrapper) -> str:
    """The PostgreSQL INSERT of a batch sent as one JSON array of rows
    (built once: a field's `db_type` costs several microseconds)."""
    sql = _JSON_BATCH_SQL.get(connection.vendor)
    if sql is not None:
        return sql
    picks = []
    for place, field in enumerate(_FIELDS):
        value = f"e->>{place}"
        column_type = field.db_type(connection)
        # Text goes in as text (an over-long value is refused, not cut);
        # everything else is cast from its text, exactly as a parameter
        # of that type would be read.
        if not (column_type == "text" or column_type.startswith("varchar")):
            value = f"({value})::{column_type}"
        picks.append(value)
    sql = _JSON_BATCH_SQL[connection.vendor] = (
        f"INSERT INTO {_EVENTS} ({_COLUMNS}) "  # noqa: S608
        f"SELECT {', '.join(picks)} "
        "FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS batch(e, place) "
        "ORDER BY place RETURNING id"
    )
    return sql


def _json_row(event: Any) -> list[Any]:
    values = list(_VALUES(event))
    values[_TIME] = values[_TIME].isoformat()
    duration = values[_DURATION]
    if duration is not None:
        # float8's own text input, exact both ways (and NaN or infinity,
        # which JSON numbers cannot carry, read as float8 does).
        values[_DURATION] = repr(float(duration))
    return values


def batch_statement(
    events: Sequence[Any], connection: BaseDatabaseWrapper
) -> Statement:
    """The INSERT of a writer's batch of chained PendingEvents, ids returned
    in order.

    On PostgreSQL one parameter, a JSON array of rows (each row the values
    in EVENT_FIELDS order; times in ISO 8601, durations as float8 text,
    the arguments as their canonical JSON text), unnested in order and
    cast column by column on the server. The statement's text is the same
    whatever the batch size, so psycopg parses it once and prepares it, and
    the batch is built by the json module's C encoder: a multi-row VALUES
    list was parsed again for every batch (a quarter of the writer's CPU),
    and one array per column (the statement before this one) cost psycopg's
    array dumpers, in Python, and Django's `db_type` of every column about
    a millisecond of the event loop's CPU per batch of 16 (measured with
    the writer alone, 2026-12-06). Elsewhere `insert_statement`.
    """
    if connection.vendor != "postgresql":
        return insert_statement(events, connection)
    rows = _BATCH_ENCODER.encode([_json_row(event) for event in events])
    return _json_batch_sql(connection), [rows]


def execute_insert(cursor: Any, statement: Statement) -> list[int]:
    """Run an `insert_statement`; return the new rows' ids in order.

    The chain-head trigger (audit/triggers.py) moves the head in the same
    statement, and refuses all of it if the rows do not extend the head.
    """
    cursor.execute(*statement)
    return [row[0] for row in cursor.fetchall()]

"""The PostgreSQL audit writer's own connection: Django's settings, psycopg's
AsyncConnection.

The writer on the event loop (audit/writer_pg_async.py) does not borrow a
connection from Django's pool (a sync pool, served through threads): it
opens one psycopg `AsyncConnection` per event loop, with the parameters
Django would use for DATABASES["default"] (`get_connection_params`: NAME,
USER, PASSWORD, HOST, PORT and OPTIONS such as `connect_timeout`,
`sslmode`, `prepare_threshold`, `assume_role`), in autocommit mode, so
each batch INSERT is its own transaction.

Errors come out as Django's exception classes (`DatabaseError` and its
subclasses, the psycopg error as `__cause__`), as from the writer thread's
connection, so callers and audit/retry.py see one kind of error whichever
writer a process runs.
"""

import contextlib
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import psycopg
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import DatabaseErrorWrapper
from psycopg import sql

from audit import batch_sql

APPLICATION_NAME = "mcp-audit-writer"
"""What pg_stat_activity shows for the writer's connections by default."""

# Django's mapping of DB-API errors to its own, without the per-thread
# Django connection it normally marks as having seen errors: this
# connection is not one of Django's.
django_errors = DatabaseErrorWrapper(
    SimpleNamespace(Database=psycopg, errors_occurred=False)
)


def django_connection() -> BaseDatabaseWrapper:
    """Django's wrapper for the default database, for its vendor, features
    and value adaptation only (it is never connected from the event loop)."""
    return connections["default"]


async def aconnect(
    overrides: Mapping[str, Any] | None = None,
) -> psycopg.AsyncConnection[Any]:
    """Open an autocommit AsyncConnection to Django's default database.

    `overrides` replace some of Django's parameters (tests put a proxy's
    port there). Raises Django's OperationalError (psycopg's as its cause) when the
    server cannot be reached within OPTIONS' `connect_timeout`.
    """
    wrapper = django_connection()
    options = wrapper.settings_dict["OPTIONS"]
    params = wrapper.get_connection_params()
    # Django's cursor class is a sync one. The writer's few statements bind
    # their parameters server-side whatever OPTIONS' `server_side_binding`
    # says: its batch, one JSON text (audit/batch_sql.py `batch_statement`),
    # then needs no quoting in Python, which is cheaper on the event loop.
    params.pop("cursor_factory", None)
    # Named in pg_stat_activity, unless OPTIONS name it otherwise.
    params.setdefault("application_name", APPLICATION_NAME)
    params.update(overrides or {})
    with django_errors:
        connection = await psycopg.AsyncConnection.connect(
            autocommit=True, cursor_factory=psycopg.AsyncCursor, **params
        )
        if role := options.get("assume_role"):
            try:
                await connection.execute(
                    sql.SQL("SET ROLE {}").format(sql.Literal(role))
                )
            except BaseException:
                close_now(connection)
                raise
    return connection


def close_now(connection: psycopg.AsyncConnection[Any] | None) -> None:
    """Close `connection` at once, from any thread, its loop running or not.

    `AsyncConnection.close` is a coroutine of its loop; the documented
    `pgconn.finish()` it ends with closes the socket without one, which is
    what a writer needs for a connection whose loop has ended or whose
    state is unknown (a statement cut short). Idempotent.
    """
    if connection is None or connection.closed:
        return
    with contextlib.suppress(Exception):
        connection.pgconn.finish()


async def aread_head(
    connection: psycopg.AsyncConnection[Any], chain_id: str
) -> tuple[int, str]:
    """`batch_sql.read_head` on an AsyncConnection (same statements)."""
    select, create = batch_sql.head_statements(chain_id, django_connection())
    row = await (await connection.execute(*select)).fetchone()
    if row is None:
        await connection.execute(*create)
        row = await (await connection.execute(*select)).fetchone()
    assert row is not None  # noqa: S101 (created just above)
    return int(row[0]), str(row[1])

"""Database triggers that make the audit table append-only.

Installed by a migration on SQLite and PostgreSQL; the test suite's
flush helper also uses `drop_triggers`/`install_triggers` (SQLite's flush
is a DELETE the triggers would rightly refuse).
"""

from django.db.backends.base.base import BaseDatabaseWrapper

TABLE = "audit_auditevent"
MESSAGE = "audit_auditevent is append-only"

_SQLITE_INSTALL = [
    f"""CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON {TABLE}
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON {TABLE}
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
]
_SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS audit_no_update",
    "DROP TRIGGER IF EXISTS audit_no_delete",
]

_PG_INSTALL = [
    f"""CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger AS $$
    BEGIN RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'insufficient_privilege'; END;
    $$ LANGUAGE plpgsql""",
    f"""CREATE OR REPLACE TRIGGER audit_no_update_delete
    BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()""",
]
_PG_DROP = [f"DROP TRIGGER IF EXISTS audit_no_update_delete ON {TABLE}"]


def _statements(connection: BaseDatabaseWrapper, *, install: bool) -> list[str]:
    if connection.vendor == "sqlite":
        return _SQLITE_INSTALL if install else _SQLITE_DROP
    if connection.vendor == "postgresql":
        return _PG_INSTALL if install else _PG_DROP
    raise NotImplementedError(f"No audit triggers for {connection.vendor}.")


def install_triggers(connection: BaseDatabaseWrapper) -> None:
    """Create the triggers refusing UPDATE and DELETE on audit rows (idempotent)."""
    with connection.cursor() as cursor:
        for sql in _statements(connection, install=True):
            cursor.execute(sql)


def drop_triggers(connection: BaseDatabaseWrapper) -> None:
    """Remove the append-only triggers (tests and deliberate maintenance only)."""
    with connection.cursor() as cursor:
        for sql in _statements(connection, install=False):
            cursor.execute(sql)


def triggers_installed(connection: BaseDatabaseWrapper) -> bool:
    """Return whether the append-only triggers exist."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' "
                "AND name IN ('audit_no_update', 'audit_no_delete')"
            )
            return cursor.fetchone()[0] == 2
        cursor.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgname = 'audit_no_update_delete'"
        )
        return cursor.fetchone()[0] == 1

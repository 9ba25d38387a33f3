"""Database triggers: the audit table is append-only, and chains only grow.

Installed by migrations on SQLite and PostgreSQL:

- `install_triggers` refuses any UPDATE or DELETE of an audit row (the
  test suite's flush helper also uses `drop_triggers`/`install_triggers`:
  SQLite's flush is a DELETE the triggers would rightly refuse);
- `install_chain_trigger` moves a chain's head (`audit_auditchain`) with
  every row inserted, and refuses a row that does not extend the head it
  names (sequence = head + 1, prev_hash = head hash): the database itself
  keeps each chain linear, and an audit insert needs no separate UPDATE.
  The refusal reads "audit chain head moved" (PostgreSQL SQLSTATE 40001);
  the group-commit writer then reads the head again (audit/retry.py).
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


Statements = dict[str, list[str]]  # by connection.vendor

_APPEND_ONLY_INSTALL: Statements = {
    "sqlite": _SQLITE_INSTALL,
    "postgresql": _PG_INSTALL,
}
_APPEND_ONLY_DROP: Statements = {"sqlite": _SQLITE_DROP, "postgresql": _PG_DROP}


def _execute(connection: BaseDatabaseWrapper, statements: Statements) -> None:
    if connection.vendor not in statements:
        raise NotImplementedError(f"No audit triggers for {connection.vendor}.")
    with connection.cursor() as cursor:
        for sql in statements[connection.vendor]:
            cursor.execute(sql)


def install_triggers(connection: BaseDatabaseWrapper) -> None:
    """Create the triggers refusing UPDATE and DELETE on audit rows (idempotent)."""
    _execute(connection, _APPEND_ONLY_INSTALL)


def drop_triggers(connection: BaseDatabaseWrapper) -> None:
    """Remove the append-only triggers (tests and deliberate maintenance only)."""
    _execute(connection, _APPEND_ONLY_DROP)


CHAIN_HEAD_MOVED = "audit chain head moved"  # the refusal, in both trigger bodies

_SQLITE_CHAIN_INSTALL = [
    """CREATE TRIGGER IF NOT EXISTS audit_chain_advance AFTER INSERT ON audit_auditevent
    BEGIN
        UPDATE audit_auditchain
           SET last_sequence = NEW.sequence, last_hash = NEW.hash
         WHERE chain_id = NEW.chain_id
           AND last_sequence = NEW.sequence - 1
           AND last_hash = NEW.prev_hash;
        SELECT RAISE(ABORT, 'audit chain head moved')
         WHERE NOT EXISTS (
            SELECT 1 FROM audit_auditchain
             WHERE chain_id = NEW.chain_id
               AND last_sequence = NEW.sequence
               AND last_hash = NEW.hash);
    END""",
]
_SQLITE_CHAIN_DROP = ["DROP TRIGGER IF EXISTS audit_chain_advance"]

_PG_CHAIN_INSTALL = [
    """CREATE OR REPLACE FUNCTION audit_chain_advance() RETURNS trigger AS $$
    BEGIN
        UPDATE audit_auditchain
           SET last_sequence = NEW.sequence, last_hash = NEW.hash
         WHERE chain_id = NEW.chain_id
           AND last_sequence = NEW.sequence - 1
           AND last_hash = NEW.prev_hash;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'audit chain head moved' USING ERRCODE = '40001';
        END IF;
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql""",
    f"""CREATE OR REPLACE TRIGGER audit_chain_advance
    AFTER INSERT ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION audit_chain_advance()""",
]
_PG_CHAIN_DROP = [f"DROP TRIGGER IF EXISTS audit_chain_advance ON {TABLE}"]


def install_chain_trigger(connection: BaseDatabaseWrapper) -> None:
    """Create the trigger that advances (and guards) chain heads (idempotent)."""
    _execute(
        connection, {"sqlite": _SQLITE_CHAIN_INSTALL, "postgresql": _PG_CHAIN_INSTALL}
    )


def drop_chain_trigger(connection: BaseDatabaseWrapper) -> None:
    """Remove the chain-head trigger."""
    _execute(connection, {"sqlite": _SQLITE_CHAIN_DROP, "postgresql": _PG_CHAIN_DROP})

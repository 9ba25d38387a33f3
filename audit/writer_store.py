"""The group-commit writer's connection, and the chain only its thread appends to.

A batch is one statement: a multi-row `INSERT ... RETURNING id`
(audit/batch_sql.py) on the writer thread's own connection in autocommit
mode, so it is its own transaction, one round trip to PostgreSQL and one
call into SQLite (each releasing the GIL while the database works, so the
event loop keeps the interpreter). The chain-head trigger
(audit/triggers.py) advances the head row in that same statement and
refuses the whole batch if the head is not the one remembered here, so a
stale memory (a commit whose acknowledgement was lost) can never fork the
chain: `commit` then raises `StaleHead`, and the next try reads the head
again.

A commit whose acknowledgement is lost (the connection drops during
COMMIT) may have committed; the retry then appends the events again. A
duplicate row is preferred to a missing one, and the chain stays valid.
"""

from dataclasses import dataclass
from typing import Any

from django.db import connections

from audit import batch_sql
from audit.retry import StaleHead, Transient, transient_kind
from audit.services import PendingEvent, chain_events, process_chain_id
from audit.triggers import CHAIN_HEAD_MOVED


@dataclass(slots=True)
class _Prepared:
    """A batch given its chain places, its INSERT ready to run (again)."""

    events: list[PendingEvent]
    statement: tuple[str, list[Any]]
    head: tuple[int, str]  # the chain head once the batch is in


class WriterStore:
    """Commits batches of events to the chain `<host>:<pid>/calls`.

    Used by one thread at a time (the writer thread), on that thread's
    Django connection.
    """

    def __init__(self) -> None:
        self.chain_id = f"{process_chain_id()}/calls"[:96]
        self._head: tuple[int, str] | None = None
        self._prepared: _Prepared | None = None
        self._tuned: Any = None  # the SQLite connection given busy_timeout = 0

    def commit(self, events: list[PendingEvent]) -> list[PendingEvent]:
        """Insert `events` in one autocommit statement; return them, stored.

        Raises the database error if it fails (`StaleHead` if the chain
        head moved). After SQLite refused the statement as busy (it
        changed nothing), a second call with the same list runs the same
        statement again; after any other failure the head is read again
        and the events are given their places afresh.
        """
        connection = connections["default"]
        connection.ensure_connection()
        try:
            with connection.wrap_database_errors:
                raw = connection.connection
                cursor = raw.cursor()
                try:
                    if connection.vendor == "sqlite" and self._tuned is not raw:
                        # Busy waits are the writer's retry loop's to make
                        # (audit/retry.py, Transient.BUSY).
                        cursor.execute("PRAGMA busy_timeout = 0")
                        self._tuned = raw
                    prepared = self._prepared
                    if prepared is None or prepared.events is not events:
                        prepared = self._prepared = self._prepare(
                            cursor, events, connection
                        )
                    ids = batch_sql.execute_insert(cursor, prepared.statement)
                finally:
                    cursor.close()
        except Exception as exc:
            if transient_kind(exc) is not Transient.BUSY:
                self._head = self._prepared = None
            if CHAIN_HEAD_MOVED in str(exc):
                raise StaleHead(str(exc)) from exc
            raise
        except BaseException:
            self._head = self._prepared = None
            raise
        self._head, self._prepared = prepared.head, None
        for event, pk in zip(events, ids, strict=True):
            event.pk = pk
        return events

    def _prepare(
        self, cursor: Any, events: list[PendingEvent], connection: Any
    ) -> _Prepared:
        if self._head is None:
            self._head = batch_sql.read_head(cursor, self.chain_id, connection)
        head = chain_events(
            events,
            chain_id=self.chain_id,
            sequence=self._head[0],
            prev_hash=self._head[1],
        )
        return _Prepared(events, batch_sql.insert_statement(events, connection), head)

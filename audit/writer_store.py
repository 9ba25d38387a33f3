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
from django.db.backends.base.base import BaseDatabaseWrapper

from audit import batch_sql
from audit.retry import StaleHead, Transient, transient_kind
from audit.services import PendingEvent, chain_events, process_chain_id
from audit.triggers import CHAIN_HEAD_MOVED

# Another writer appended to this chain first (on PostgreSQL, the unique
# (chain, sequence) check can fire before the chain-head trigger): the
# head moved too. Sequences are the writer's own, so this is never one
# event's fault.
_SEQUENCE_TAKEN = "audit_auditevent_unique_chain_seq"


@dataclass(slots=True)
class _Prepared:
    """A batch given its chain places, its INSERT ready to run (again)."""

    events: list[PendingEvent]
    statement: batch_sql.Statement
    head: tuple[int, str]  # the chain head once the batch is in


class ChainTail:
    """A writer's memory of its chain's head, and the batch it is placing there.

    No I/O of its own, so both stores share it: `WriterStore` below, on the
    writer thread's Django connection, and the PostgreSQL store on the
    event loop (audit/writer_pg_async.py). A store reads the head when
    `head` is None, runs the INSERT `place` returns, then reports the
    outcome to `committed` or `failed`.
    """

    def __init__(self) -> None:
        self.chain_id = f"{process_chain_id()}/calls"[:96]
        self.head: tuple[int, str] | None = None
        self._prepared: _Prepared | None = None

    def place(
        self, events: list[PendingEvent], connection: BaseDatabaseWrapper
    ) -> batch_sql.Statement:
        """The INSERT putting `events` after `head` (which must be known).

        The same list again (after a failure that changed nothing) gets the
        same statement; a new list gets its places afresh.
        """
        prepared = self._prepared
        if prepared is None or prepared.events is not events:
            assert self.head is not None, "read the head first"  # noqa: S101
            head = chain_events(
                events,
                chain_id=self.chain_id,
                sequence=self.head[0],
                prev_hash=self.head[1],
            )
            statement = batch_sql.batch_statement(events, connection)
            prepared = self._prepared = _Prepared(events, statement, head)
        return prepared.statement

    def committed(
        self, events: list[PendingEvent], ids: list[int]
    ) -> list[PendingEvent]:
        """Remember the head after `events`, now stored with `ids`; return them."""
        assert self._prepared is not None  # noqa: S101
        self.head, self._prepared = self._prepared.head, None
        for event, pk in zip(events, ids, strict=True):
            event.pk = pk
        return events

    def failed(self, exc: BaseException, *, changed_nothing: bool = False) -> None:
        """Forget what the failed INSERT may have made stale; raise `StaleHead`
        for a head that moved (refused by the chain-head trigger, or the
        next sequence already taken).

        `changed_nothing` (SQLite refused the statement as busy) keeps the
        prepared batch for the next try; otherwise the head is read again.
        """
        if not changed_nothing:
            self.head = self._prepared = None
        message = str(exc)
        if CHAIN_HEAD_MOVED in message or _SEQUENCE_TAKEN in message:
            raise StaleHead(message) from exc


class WriterStore:
    """Commits batches of events to the chain `<host>:<pid>/calls`.

    Used by one thread at a time (the writer thread), on that thread's
    Django connection.
    """

    def __init__(self) -> None:
        self.tail = ChainTail()
        self._tuned: Any = None  # the SQLite connection given busy_timeout = 0

    @property
    def chain_id(self) -> str:
        """The chain this store appends to."""
        return self.tail.chain_id

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
        tail = self.tail
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
                    if tail.head is None:
                        tail.head = batch_sql.read_head(
                            cursor, tail.chain_id, connection
                        )
                    statement = tail.place(events, connection)
                    ids = batch_sql.execute_insert(cursor, statement)
                finally:
                    cursor.close()
        except Exception as exc:
            busy = transient_kind(exc) is Transient.BUSY
            tail.failed(exc, changed_nothing=busy)
            raise
        except BaseException as exc:
            tail.failed(exc)
            raise
        return tail.committed(events, ids)

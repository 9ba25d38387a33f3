"""Walking the audit hash chains: what `manage.py audit_verify` checks.

Every chain must run from sequence 1 without gaps, each row's `prev_hash`
must be the previous row's `hash` (the genesis hash for sequence 1), each
row's `hash` must be the recomputed hash of its content, and the chain must
reach its `AuditChain` head: the row at the head's `last_sequence` carries
the head's `last_hash`. That last check is what catches a deleted tail row,
which leaves the rows themselves perfectly linked.

The walk streams the table in (chain_id, sequence) order, the order of its
unique index, so memory stays flat on a large table. Heads are read before
the rows, so a row appended during the walk lies beyond its head and is
checked for linkage, not flagged: the check is safe on a live database.
"""

import contextlib
import enum
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from django.db import connection, transaction

from audit.chain import GENESIS_HASH, HASHED_FIELDS, compute_hash
from audit.models import AuditChain, AuditEvent

CHUNK_SIZE = 2000


class Problem(enum.StrEnum):
    HASH_MISMATCH = "hash mismatch"
    GAP = "gap"
    BROKEN_LINK = "broken link"
    HEAD_MISMATCH = "head mismatch"


class BrokenChain(Exception):
    """The first broken link of a chain: where it is and what is wrong."""

    def __init__(
        self,
        *,
        chain_id: str,
        sequence: int,
        row_id: int | None,
        problem: Problem,
        detail: str,
    ) -> None:
        self.chain_id = chain_id
        self.sequence = sequence
        self.row_id = row_id
        self.problem = problem
        self.detail = detail
        row = f"row id {row_id}" if row_id is not None else "no row"
        super().__init__(
            f"chain {chain_id}: sequence {sequence} ({row}): {problem}: {detail}"
        )


@dataclass(frozen=True)
class ChainSummary:
    """A chain that verified: its rows and its head."""

    chain_id: str
    rows: int
    last_sequence: int
    head_sequence: int

    def __str__(self) -> str:
        if not self.rows:
            return f"chain {self.chain_id}: no rows, head ok"
        newer = self.last_sequence - self.head_sequence
        tail = f", {newer} appended during the walk" if newer > 0 else ""
        return (
            f"chain {self.chain_id}: {self.rows} rows, "
            f"sequence 1..{self.last_sequence}, head ok{tail}"
        )


def _span(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}..{last}"


class _ChainWalk:
    """The running check of one chain, fed its rows in sequence order."""

    def __init__(self, chain_id: str, head: AuditChain | None) -> None:
        self.chain_id = chain_id
        self.head = head
        self.rows = 0
        self.last_sequence = 0
        self.last_hash = GENESIS_HASH
        self.last_row_id: int | None = None
        self.head_reached = head is not None and head.last_sequence == 0

    def _broken(self, row: Any, problem: Problem, detail: str) -> BrokenChain:
        return BrokenChain(
            chain_id=self.chain_id,
            sequence=row.sequence,
            row_id=row.id,
            problem=problem,
            detail=detail,
        )

    def feed(self, row: Any) -> None:
        expected = self.last_sequence + 1
        if row.sequence != expected:
            raise self._broken(
                row,
                Problem.GAP,
                f"expected sequence {expected}; "
                f"sequence {_span(expected, row.sequence - 1)} missing",
            )
        if row.prev_hash != self.last_hash:
            previous = (
                f"the hash of sequence {self.last_sequence}"
                if self.last_sequence
                else "the genesis hash"
            )
            raise self._broken(
                row,
                Problem.BROKEN_LINK,
                f"prev_hash {row.prev_hash} is not {previous} ({self.last_hash})",
            )
        computed = compute_hash(row)
        if computed != row.hash:
            raise self._broken(
                row,
                Problem.HASH_MISMATCH,
                f"stored hash {row.hash}, content hashes to {computed}",
            )
        if self.head is not None and row.sequence == self.head.last_sequence:
            if row.hash != self.head.last_hash:
                raise self._broken(
                    row,
                    Problem.HEAD_MISMATCH,
                    f"the head records hash {self.head.last_hash} for this "
                    f"sequence, the row has {row.hash}",
                )
            self.head_reached = True
        self.rows += 1
        self.last_sequence, self.last_hash = row.sequence, row.hash
        self.last_row_id = row.id

    def _late_head(self) -> AuditChain:
        """Look again for a head missing from the snapshot taken before the walk.

        A chain started during the walk has rows but no head in that
        snapshot; its head, read now, is at or beyond the rows walked.
        """
        head = AuditChain.objects.filter(chain_id=self.chain_id).first()
        if head is None:
            raise self._broken_tail("the chain has rows but no AuditChain head")
        if head.last_sequence < self.last_sequence or (
            head.last_sequence == self.last_sequence
            and head.last_hash != self.last_hash
        ):
            raise self._broken_tail(
                f"the head records sequence {head.last_sequence} with hash "
                f"{head.last_hash}; the chain ends at sequence "
                f"{self.last_sequence} with hash {self.last_hash}"
            )
        self.head_reached = True
        return head

    def _broken_tail(self, detail: str) -> BrokenChain:
        return BrokenChain(
            chain_id=self.chain_id,
            sequence=self.last_sequence,
            row_id=self.last_row_id,
            problem=Problem.HEAD_MISMATCH,
            detail=detail,
        )

    def finish(self) -> ChainSummary:
        head = self.head or self._late_head()
        if not self.head_reached:
            raise self._broken_tail(
                f"the chain ends at sequence {self.last_sequence} but its "
                f"head records sequence {head.last_sequence}: sequence "
                f"{_span(self.last_sequence + 1, head.last_sequence)} missing"
            )
        return ChainSummary(
            chain_id=self.chain_id,
            rows=self.rows,
            last_sequence=self.last_sequence,
            head_sequence=head.last_sequence,
        )


def _rows(chunk_size: int, chain_id: str | None = None) -> Iterator[SimpleNamespace]:
    fields = ("id", "hash", *HASHED_FIELDS)
    rows = AuditEvent.objects.order_by("chain_id", "sequence")
    if chain_id is not None:
        rows = rows.filter(chain_id=chain_id)
    rows = rows.values(*fields).iterator(chunk_size=chunk_size)
    for row in rows:
        yield SimpleNamespace(**row)


def read_snapshot() -> contextlib.AbstractContextManager[Any]:
    """A transaction on PostgreSQL, where it lets the cursor stream.

    Outside a transaction Django declares PostgreSQL's server-side cursor
    WITH HOLD, which materializes the whole result on the server first. On
    SQLite a transaction would be BEGIN IMMEDIATE, blocking every writer for
    the walk, and one SELECT already reads one snapshot.
    """
    if connection.vendor == "postgresql":
        return transaction.atomic()
    return contextlib.nullcontext()


def verify_chains(*, chunk_size: int = CHUNK_SIZE) -> Iterator[ChainSummary]:
    """Walk every chain in chain_id order; yield each one's summary once verified.

    Raises BrokenChain at the first broken link of a chain (the chains
    before it have been yielded). Reads only.
    """
    with read_snapshot():
        heads = {head.chain_id: head for head in AuditChain.objects.all()}
        # Chains with a head but no rows sort in between the walked ones.
        headless = sorted(heads)
        walk: _ChainWalk | None = None

        def rowless_before(chain_id: str | None) -> Iterator[ChainSummary]:
            while headless and (chain_id is None or headless[0] < chain_id):
                chain = headless.pop(0)
                yield _ChainWalk(chain, heads[chain]).finish()

        for row in _rows(chunk_size):
            if walk is None or row.chain_id != walk.chain_id:
                if walk is not None:
                    yield walk.finish()
                yield from rowless_before(row.chain_id)
                if headless and headless[0] == row.chain_id:
                    headless.pop(0)
                walk = _ChainWalk(row.chain_id, heads.get(row.chain_id))
            walk.feed(row)
        if walk is not None:
            yield walk.finish()
        yield from rowless_before(None)


class ChainTooLong(Exception):
    """A chain longer than the walk was allowed to read (nothing is wrong)."""

    def __init__(self, *, chain_id: str, max_rows: int) -> None:
        self.chain_id = chain_id
        self.max_rows = max_rows
        super().__init__(f"chain {chain_id} has more than {max_rows} rows")


def verify_chain(
    chain_id: str, *, max_rows: int | None = None, chunk_size: int = CHUNK_SIZE
) -> ChainSummary:
    """Verify one chain, as `verify_chains` does each: from sequence 1 to its head.

    Streams the chain's rows in sequence order (the unique index), so memory
    stays flat. Raises BrokenChain at its first broken link, and
    ChainTooLong, having read `max_rows` rows, when `max_rows` is set and
    the chain is longer (an interactive page bounds its wait this way; the
    `audit_verify` command walks everything). Reads only.
    """
    with read_snapshot():
        walk = _ChainWalk(
            chain_id, AuditChain.objects.filter(chain_id=chain_id).first()
        )
        for row in _rows(chunk_size, chain_id):
            if max_rows is not None and walk.rows >= max_rows:
                raise ChainTooLong(chain_id=chain_id, max_rows=max_rows)
            walk.feed(row)
        return walk.finish()

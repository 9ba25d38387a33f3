"""What can stop a live access token, as each process sees it.

Access tokens are verified without a database query per request (DESIGN
invariant 7), so everything that must refuse a token that verifies reaches
each process by polling and is at most MAX_AGE_SECONDS old when used:

- the revocation feed (oauth.models.Revocation): a `jti` entry refuses that
  token; a `user`, `client` or `tenant` entry refuses every token of that
  subject (user and tenant by primary key, client by client_id) issued at or
  before the entry's `created_at`;
- the status of each subject this process has accepted a token for
  recently (mcpserver/subject_status.py), re-checked with every poll. This
  also covers a user, tenant or client disabled in the admin without a
  feed entry.

One background task per process (`poll_forever`, started by the MCP app's
lifespan) polls every MCP_REVOCATION_POLL_SECONDS and reloads the signing
keys in the same database round trip. When the last successful poll is
older than MAX_AGE_SECONDS, a request joins the poll in progress (or starts
one) for at most MCP_DB_TIMEOUT_SECONDS; if that fails, no token is
accepted (`FeedUnavailable`): the check fails closed. No lock is held
across a database wait, so a hung poll never stalls requests beyond that.
"""

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

import anyio
from django.db.models import Q
from django.utils import timezone

from mcpserver.aio import SharedTask
from mcpserver.db import run_db
from mcpserver.keystore import KEYS, KeyRow, load_key_rows
from mcpserver.subject_status import (
    SubjectKeys,
    SubjectStates,
    SubjectTracker,
    load_subject_states,
)
from oauth.models import Revocation

logger = logging.getLogger(__name__)

MAX_AGE_SECONDS = 1.0
"""No token is accepted on revocation data older than this (seconds)."""

_LOOKBACK = timedelta(seconds=30)
"""Incremental polls re-read entries this recent, whatever their id.

PostgreSQL ids are not committed in order: a slow transaction can commit id
41 after id 42 was read. Re-reading a recent window (and a full reload every
_FULL_RELOAD_SECONDS) catches such entries.
"""
_FULL_RELOAD_SECONDS = 30.0


class FeedUnavailable(Exception):
    """The revocation data could not be refreshed; tokens cannot be accepted."""


@dataclass(frozen=True)
class RevocationRow:
    id: int
    kind: str
    subject: str
    created_at: float
    expires_at: float
    tenant_id: int | None = None


@dataclass(frozen=True)
class PollResult:
    revocations: list[RevocationRow]
    keys: list[KeyRow]
    subjects: SubjectStates


def load_revocations(*, after_id: int | None) -> list[RevocationRow]:
    """Return unexpired feed entries: all, or (incremental) the new ones (sync, DB).

    Incremental reads return entries with an id above `after_id` and every
    entry created within the look-back window.
    """
    now = timezone.now()
    entries = Revocation.objects.filter(expires_at__gt=now)
    if after_id is not None:
        entries = entries.filter(
            Q(id__gt=after_id) | Q(created_at__gte=now - _LOOKBACK)
        )
    return [
        RevocationRow(
            id=entry.id,
            kind=entry.kind,
            subject=entry.subject,
            created_at=entry.created_at.timestamp(),
            expires_at=entry.expires_at.timestamp(),
            tenant_id=entry.tenant_id,
        )
        for entry in entries.only(
            "id", "kind", "subject", "created_at", "expires_at", "tenant_id"
        )
    ]


def load_poll(*, after_id: int | None, subjects: SubjectKeys) -> PollResult:
    """Read everything one poll needs in one database round trip (sync, DB)."""
    return PollResult(
        revocations=load_revocations(after_id=after_id),
        keys=load_key_rows(),
        subjects=load_subject_states(subjects),
    )


class RevocationFeed:
    """This process's copy of the unexpired revocation feed."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self._jtis: dict[str, float] = {}
        # (kind, subject, tenant or None) -> (cutoff, expiry); a tenant in
        # the key limits a user or client entry to that tenant's tokens.
        self._cutoffs: dict[tuple[str, str, int | None], tuple[float, float]] = {}
        self._max_id: int | None = None
        self._last_full = float("-inf")
        self.fresh_at: float | None = None

    def age(self) -> float:
        """Seconds since the start of the last successful poll (inf if none)."""
        if self.fresh_at is None:
            return float("inf")
        return time.monotonic() - self.fresh_at

    def wants_full(self, now: float) -> bool:
        return self._max_id is None or now - self._last_full >= _FULL_RELOAD_SECONDS

    @property
    def max_id(self) -> int | None:
        return self._max_id

    def apply(self, rows: list[RevocationRow], *, full: bool, started: float) -> None:
        """Merge polled entries (replacing everything on a full read)."""
        if full:
            self._jtis, self._cutoffs = {}, {}
            self._last_full = started
        max_id = self._max_id or 0
        for row in rows:
            max_id = max(max_id, row.id)
            if row.kind == Revocation.Kind.JTI:
                self._jtis[row.subject] = max(
                    self._jtis.get(row.subject, 0.0), row.expires_at
                )
            else:
                key = (row.kind, row.subject, row.tenant_id)
                cutoff, expires = self._cutoffs.get(key, (0.0, 0.0))
                self._cutoffs[key] = (
                    max(cutoff, row.created_at),
                    max(expires, row.expires_at),
                )
        self._max_id = max_id
        now = time.time()
        self._jtis = {jti: exp for jti, exp in self._jtis.items() if exp > now}
        self._cutoffs = {k: v for k, v in self._cutoffs.items() if v[1] > now}

    def refusal(
        self, *, jti: str, user_id: int, client_id: str, tenant_id: int, issued_at: int
    ) -> str | None:
        """Why the feed refuses this token, or None."""
        if jti in self._jtis:
            return "token revoked"
        for kind, subject, scope in (
            (Revocation.Kind.USER, str(user_id), None),
            (Revocation.Kind.USER, str(user_id), tenant_id),
            (Revocation.Kind.CLIENT, client_id, None),
            (Revocation.Kind.CLIENT, client_id, tenant_id),
            (Revocation.Kind.TENANT, str(tenant_id), None),
            (
                Revocation.Kind.GRANT,
                Revocation.grant_subject(user_id=user_id, client_id=client_id),
                None,
            ),
        ):
            entry = self._cutoffs.get((kind, subject, scope))
            if entry is not None and issued_at <= entry[0]:
                return f"{kind} revoked"
        return None


FEED = RevocationFeed()
SUBJECTS = SubjectTracker()
_polling = SharedTask()


async def _poll_once() -> None:
    started = time.monotonic()
    full = FEED.wants_full(started)
    result = await run_db(
        load_poll,
        after_id=None if full else FEED.max_id,
        subjects=SUBJECTS.all_keys(),
    )
    FEED.apply(result.revocations, full=full, started=started)
    KEYS.replace(result.keys)
    SUBJECTS.apply(result.subjects)
    FEED.fresh_at = started


async def refresh() -> None:
    """Poll the feed, the signing keys and the known subjects once.

    The poll reads the database after this call began: a poll already in
    progress is waited out (its outcome ignored), then a new one is started
    or joined. Raises DatabaseUnavailable (mcpserver/db.py: after at most
    MCP_DB_TIMEOUT_SECONDS) or whatever else the database raised.
    """
    running = _polling.running()
    if running is not None:
        await asyncio.wait([running])
    await _polling.join(_poll_once)


async def ensure_fresh() -> None:
    """Make sure the feed is at most MAX_AGE_SECONDS old; raise FeedUnavailable.

    A fresh feed costs nothing. A stale one joins the poll in progress (the
    background poll's, usually) or starts one, and never queues behind
    others: the wait is one poll, at most MCP_DB_TIMEOUT_SECONDS, however
    many requests arrive meanwhile. If the poll fails, or what it read is
    already too old, no token is accepted (fail closed); the first poll
    that succeeds after the database returns lets every request through.
    """
    if FEED.age() <= MAX_AGE_SECONDS:
        return
    try:
        await _polling.join(_poll_once)
    except Exception as exc:
        raise FeedUnavailable("the revocation feed cannot be read") from exc
    if FEED.age() > MAX_AGE_SECONDS:
        raise FeedUnavailable("the revocation feed is too old")


async def subject_refusal(
    *, user_id: int, tenant_id: int, client_id: str
) -> str | None:
    """Why a token's user, tenant or client is refused, or None.

    Looks subjects up in the database only the first time this process sees
    them (or after they were idle for a long time); raises FeedUnavailable
    if that lookup fails.
    """
    missing = SUBJECTS.missing(
        user_id=user_id, tenant_id=tenant_id, client_id=client_id
    )
    if missing:
        try:
            SUBJECTS.apply(await run_db(load_subject_states, missing))
        except Exception as exc:
            raise FeedUnavailable("subject status cannot be read") from exc
    return SUBJECTS.refusal(user_id=user_id, tenant_id=tenant_id, client_id=client_id)


async def poll_forever(interval: float) -> None:
    """Refresh every `interval` seconds until cancelled; failures are logged.

    Cancelling it (at shutdown) waits for the poll in progress, at most
    MCP_DB_TIMEOUT_SECONDS, rather than leaving a query behind the
    lifespan's back.
    """
    failures = 0
    while True:
        try:
            with anyio.CancelScope(shield=True):
                await _polling.join(_poll_once)
        except Exception:
            failures += 1
            if failures == 1 or failures % 60 == 0:
                logger.warning(
                    "Revocation poll failed (%d in a row)", failures, exc_info=True
                )
        else:
            if failures:
                logger.warning("Revocation poll recovered after %d failures", failures)
            failures = 0
        await anyio.sleep(interval)


def reset() -> None:
    """Forget the feed, the subject states and the keys of this process.

    mcpserver.auth.reset_process_state also forgets the verified tokens.
    """
    FEED.clear()
    SUBJECTS.clear()
    KEYS.clear()

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

In resource-server mode (`configure(trust_local=False)`) this poll reads
only users, tenants and memberships; the feed entries, the disabled
subjects and the keys come from the issuer over HTTP
(mcpserver/remote_feed.py, mcpserver/jwks_cache.py), with their own
freshness bound (MCP_ISSUER_UNREACHABLE_SECONDS).
"""

import asyncio
import logging
import time
from dataclasses import dataclass

import anyio

from mcpserver.aio import SharedTask
from mcpserver.db import run_db
from mcpserver.keystore import KEYS, KeyRow, load_key_rows
from mcpserver.revocation_feed import RevocationFeed
from mcpserver.subject_status import (
    SubjectKeys,
    SubjectStates,
    SubjectTracker,
    load_subject_states,
)
from oauth.revocation_selectors import RevocationRow, load_revocations

logger = logging.getLogger(__name__)

MAX_AGE_SECONDS = 1.0
"""No token is accepted on revocation data older than this (seconds)."""


class FeedUnavailable(Exception):
    """The revocation data could not be refreshed; tokens cannot be accepted."""


@dataclass(frozen=True)
class PollResult:
    revocations: list[RevocationRow]
    keys: list[KeyRow]
    subjects: SubjectStates


def load_poll(
    *, after_id: int | None, subjects: SubjectKeys, trust_local: bool = True
) -> PollResult:
    """Read everything one poll needs in one database round trip (sync, DB).

    With `trust_local` false (resource-server mode) only the users, tenants
    and memberships: the feed, the keys and the clients' status come from
    the issuer over HTTP, and no OAuth table is read.
    """
    if not trust_local:
        return PollResult(
            revocations=[],
            keys=[],
            subjects=load_subject_states(subjects, clients=False),
        )
    return PollResult(
        revocations=load_revocations(after_id=after_id),
        keys=load_key_rows(),
        subjects=load_subject_states(subjects),
    )


FEED = RevocationFeed()
SUBJECTS = SubjectTracker()
_polling = SharedTask()
_trust_local = True
"""False in resource-server mode (`configure`): see `load_poll`."""


def configure(*, trust_local: bool) -> None:
    """Choose where the feed and keys come from (at lifespan start)."""
    global _trust_local
    _trust_local = trust_local


async def _poll_once() -> None:
    started = time.monotonic()
    full = FEED.wants_full(started)
    trust_local = _trust_local
    result = await run_db(
        load_poll,
        after_id=None if full else FEED.max_id,
        subjects=SUBJECTS.all_keys(),
        trust_local=trust_local,
    )
    if trust_local:
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
            SUBJECTS.apply(
                await run_db(load_subject_states, missing, clients=_trust_local)
            )
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

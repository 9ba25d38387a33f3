"""The checks behind /readyz: a small registry, one function per check.

A check answers a `CheckResult`: `ok` false makes /readyz answer 503 (a
load balancer should stop sending this process traffic); `detail` says why
in words, including when something is stale but still within its bound
(the process keeps serving). Register more with `register`; `when` limits
a check to one mode. A check is a plain function when it only reads this
process's memory, or a coroutine function when it waits on something
(the database), which it bounds itself.

Always registered: `shutting_down` (config/shutdown.py), `database`,
`audit_writer`; in resource-server mode `jwks` and `revocation_feed`. The
checks that need the MCP app running (its poller, its quota limiter) are
added by the ASGI composition (config/asgi.py, `register_serving_checks`).
"""

import asyncio
import contextlib
import inspect
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, connection

from audit import writer as audit_writer
from config import shutdown
from mcpserver import revocations
from mcpserver.jwks_cache import JWKS
from mcpserver.quotas import QuotaStatus
from mcpserver.remote_feed import REMOTE_FEED


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    detail: str


CheckRun = Callable[[], CheckResult | Awaitable[CheckResult]]


@dataclass(frozen=True)
class Check:
    name: str
    run: CheckRun
    when: Callable[[], bool]


_CHECKS: list[Check] = []


def register(
    name: str,
    run: CheckRun,
    *,
    when: Callable[[], bool] = lambda: True,
) -> None:
    """Add a check (`name` unique; a second registration replaces the first)."""
    _CHECKS[:] = [check for check in _CHECKS if check.name != name]
    _CHECKS.append(Check(name, run, when))


def unregister(name: str) -> None:
    """Remove the check `name` (if registered)."""
    _CHECKS[:] = [check for check in _CHECKS if check.name != name]


async def arun_checks() -> dict[str, CheckResult]:
    """Every applicable check's result, by name; a check that raises fails."""
    results = {}
    for check in list(_CHECKS):
        if not check.when():
            continue
        try:
            outcome = check.run()
            if inspect.isawaitable(outcome):
                outcome = await outcome
            results[check.name] = outcome
        except Exception as exc:  # a broken check is a failed check
            results[check.name] = CheckResult(False, f"check failed: {exc!r}")
    return results


def shutting_down() -> CheckResult:
    """Not ready from SIGTERM (or the lifespan's shutdown) on."""
    stopping, detail = shutdown.status()
    return CheckResult(not stopping, detail)


PROBES_IN_FLIGHT = 3
"""Database probes that may wait at once; beyond, the check fails at once."""
_probe_slots = threading.BoundedSemaphore(PROBES_IN_FLIGHT)


def _select_one() -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connection.close()  # CONN_MAX_AGE = 0: back to the pool, as per request


async def probe(query: Callable[[], object], bound: float) -> CheckResult:
    """Run `query` on a daemon thread of its own; wait for it at most `bound` s.

    The event loop only waits. A query that overruns is left to finish on
    its thread (a thread cannot be stopped), which is a daemon, so it never
    holds up the process's exit, and it is never one of the /mcp database
    threads (mcpserver/db.py). At most PROBES_IN_FLIGHT probes wait at
    once: a database that keeps them all waiting fails the check at once.
    """
    if not _probe_slots.acquire(blocking=False):
        return CheckResult(
            False, f"no answer: {PROBES_IN_FLIGHT} earlier probes still waiting"
        )
    loop = asyncio.get_running_loop()
    answered: asyncio.Future[BaseException | None] = loop.create_future()

    def settle(outcome: BaseException | None) -> None:
        if not answered.done():
            answered.set_result(outcome)

    def run() -> None:
        outcome: BaseException | None = None
        try:
            query()
        except BaseException as exc:  # handed to the waiting loop
            outcome = exc
        finally:
            _probe_slots.release()
        with contextlib.suppress(RuntimeError):  # the loop is gone
            loop.call_soon_threadsafe(settle, outcome)

    threading.Thread(target=run, name="readyz-db", daemon=True).start()
    try:
        async with asyncio.timeout(bound):
            outcome = await answered
    except TimeoutError:
        return CheckResult(False, f"no answer within {bound:g} s")
    if isinstance(outcome, DatabaseError):
        return CheckResult(False, f"unreachable: {type(outcome).__name__}")
    if outcome is not None:
        raise outcome
    return CheckResult(True, "reachable")


async def database() -> CheckResult:
    """The database answers `SELECT 1` within MCP_DB_TIMEOUT_SECONDS (`probe`)."""
    return await probe(_select_one, settings.MCP_DB_TIMEOUT_SECONDS)


def audit_writer_check() -> CheckResult:
    """The audit writer keeps up: backlog and oldest event's age under bounds.

    Bounds: MCP_READY_AUDIT_MAX_QUEUE events, MCP_READY_AUDIT_MAX_AGE_SECONDS.
    """
    backlog = audit_writer.backlog()
    max_queue = settings.MCP_READY_AUDIT_MAX_QUEUE
    max_age = settings.MCP_READY_AUDIT_MAX_AGE_SECONDS
    words = (
        f"{backlog.depth} event(s) queued, oldest {backlog.oldest_age:.1f} s "
        f"(bounds {max_queue}, {max_age:g} s)"
    )
    if backlog.depth > max_queue:
        return CheckResult(False, f"falling behind: {words}")
    if backlog.oldest_age > max_age:
        return CheckResult(False, f"stalled: {words}")
    return CheckResult(True, words)


def jwks() -> CheckResult:
    """The issuer's keys: present, and fresh or stale (still used)."""
    fresh, detail = JWKS.status()
    # Stale keys still verify their tokens; only having none is not ready.
    return CheckResult(fresh or JWKS.age() != float("inf"), detail)


def revocation_feed() -> CheckResult:
    """Resource-server mode: the issuer's feed, within MCP_ISSUER_UNREACHABLE_SECONDS.

    Combined mode (registered by `register_serving_checks`): the in-process
    poller's last good poll is at most MCP_READY_REVOCATION_MAX_AGE_SECONDS
    old (past MAX_AGE_SECONDS requests poll themselves, and fail closed).
    """
    if _resource_server_mode():
        usable, detail = REMOTE_FEED.status()
        return CheckResult(usable, detail)
    age = revocations.FEED.age()
    bound = settings.MCP_READY_REVOCATION_MAX_AGE_SECONDS
    if age > bound:
        since = "never" if age == float("inf") else f"{age:.1f} s ago"
        return CheckResult(False, f"stale: last good poll {since} (bound {bound:g} s)")
    return CheckResult(True, f"fresh: last good poll {age:.1f} s ago")


def quota_backend(status: QuotaStatus | None) -> CheckResult:
    """Where quota counters live; the per-process fallback does not fail.

    Fails only when the MCP app is not running (`status` None).
    """
    if status is None:
        return CheckResult(False, "the MCP app is not running")
    if status.degraded:
        return CheckResult(
            True,
            f"degraded: Redis unreachable ({status.error}); counting in this "
            f"process until it answers",
        )
    if status.store == "redis":
        return CheckResult(True, "redis: shared by every process")
    return CheckResult(True, "local: each process counts on its own (no Redis)")


def register_serving_checks(quota_status: Callable[[], QuotaStatus | None]) -> None:
    """Add the checks of a process that serves /mcp (config/asgi.py).

    While the MCP app's lifespan runs (`quota_status()` is not None): the
    revocation feed in both modes (this process polls it) and the quota
    backend, read from the MCP app's `quota_status`.
    """

    def serving() -> bool:
        return quota_status() is not None

    register(
        "revocation_feed",
        revocation_feed,
        when=lambda: _resource_server_mode() or serving(),
    )
    register("quota_backend", lambda: quota_backend(quota_status()), when=serving)


def _resource_server_mode() -> bool:
    return bool(settings.MCP_AUTHORIZATION_SERVER)


register("shutting_down", shutting_down)
register("database", database)
register("audit_writer", audit_writer_check)
register("jwks", jwks, when=_resource_server_mode)
register("revocation_feed", revocation_feed, when=_resource_server_mode)

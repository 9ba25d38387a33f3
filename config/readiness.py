"""The checks behind /readyz: a small registry, one function per check.

A check answers a `CheckResult`: `ok` false makes /readyz answer 503 (a
load balancer should stop sending this process traffic); `detail` says why
in words, including when something is stale but still within its bound
(the process keeps serving). Register more with `register` (the cluster
checks of issue #16 go here); `when` limits a check to one mode.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, connection

from mcpserver.jwks_cache import JWKS
from mcpserver.remote_feed import REMOTE_FEED


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    detail: str


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[], CheckResult]
    when: Callable[[], bool]


_CHECKS: list[Check] = []


def register(
    name: str,
    run: Callable[[], CheckResult],
    *,
    when: Callable[[], bool] = lambda: True,
) -> None:
    """Add a check (`name` unique; a second registration replaces the first)."""
    _CHECKS[:] = [check for check in _CHECKS if check.name != name]
    _CHECKS.append(Check(name, run, when))


def unregister(name: str) -> None:
    """Remove the check `name` (if registered)."""
    _CHECKS[:] = [check for check in _CHECKS if check.name != name]


def run_checks() -> dict[str, CheckResult]:
    """Every applicable check's result, by name; a check that raises fails."""
    results = {}
    for check in _CHECKS:
        if not check.when():
            continue
        try:
            results[check.name] = check.run()
        except Exception as exc:  # a broken check is a failed check
            results[check.name] = CheckResult(False, f"check failed: {exc!r}")
    return results


def database() -> CheckResult:
    """The shared database answers a trivial query (sync, bounded by its timeouts)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return CheckResult(False, f"unreachable: {type(exc).__name__}")
    return CheckResult(True, "reachable")


def jwks() -> CheckResult:
    """The issuer's keys: present, and fresh or stale (still used)."""
    fresh, detail = JWKS.status()
    # Stale keys still verify their tokens; only having none is not ready.
    return CheckResult(fresh or JWKS.age() != float("inf"), detail)


def revocation_feed() -> CheckResult:
    """The issuer's revocation feed: within MCP_ISSUER_UNREACHABLE_SECONDS."""
    usable, detail = REMOTE_FEED.status()
    return CheckResult(usable, detail)


def _resource_server_mode() -> bool:
    return bool(settings.MCP_AUTHORIZATION_SERVER)


register("database", database)
register("jwks", jwks, when=_resource_server_mode)
register("revocation_feed", revocation_feed, when=_resource_server_mode)

"""Sign-in protection: failed sign-ins lock a username and an address.

Both sign-in forms (/accounts/login/ and the operator console's) count
every failure twice, under the username tried and under the address it
came from, over a sliding LOGIN_FAILURE_WINDOW_SECONDS (the current clock-
aligned window plus the covered part of the one before: a limit holds
across a window's boundary too; accounts/throttle.py). The failure
that reaches LOGIN_FAILURES_PER_USERNAME (or _PER_ADDRESS) locks that
username (or address) for LOGIN_LOCKOUT_SECONDS. While either lock holds,
the form is refused before the password is checked, so a correct password
during a lockout reveals nothing.

A lockout window, not a progressive delay: Django runs sync views on one
thread per process under ASGI, so a sleeping sign-in would stall every
other page of that worker, and a delay an attacker can queue up many of is
itself a denial of service. A refusal costs one cache read.

No enumeration: unknown usernames are counted and locked exactly like real
ones, and every refusal reads the same whichever lock holds. The username
is case-folded so that "Alice" and "alice" share a budget.

A success clears its username's count (its owner should not inherit a
stranger's failures) but not its address's: otherwise one valid account
would reset an address's budget for guessing at every other.

Every failure that checked a password is an audit row (login_failed) with
the counts and whether it started a lockout, so a lockout is audited once,
when it starts; refusals during a lockout leave one row per username and
address a minute. Rows record the request's address themselves
(audit/request_source.py). The functions that audit join the caller's
transaction.
"""

from dataclasses import dataclass
from typing import Any

from django.conf import settings

from accounts import throttle
from audit.models import AuditEvent
from audit.services import record_event

REFUSAL_AUDIT_SECONDS = 60


@dataclass(frozen=True, slots=True)
class Lockout:
    """A sign-in refused before its password was checked."""

    retry_after: int

    @property
    def message(self) -> str:
        return (
            f"Too many failed sign-ins; try again in {self.retry_after} "
            f"second{'s' if self.retry_after != 1 else ''}."
        )


@dataclass(frozen=True, slots=True)
class Failure:
    """The throttle's state after one failed sign-in."""

    username_failures: int
    address_failures: int
    started: tuple[str, ...] = ()
    """What this failure locked: "username", "address", both or neither."""

    def arguments(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "username_failures": self.username_failures,
            "address_failures": self.address_failures,
            "locked": bool(self.started),
        }
        if self.started:
            state["lockout_started"] = list(self.started)
            state["lockout_seconds"] = settings.LOGIN_LOCKOUT_SECONDS
        return {"throttle": state}


def _keys(*, username: str, address: str) -> tuple[str, str]:
    return (
        throttle.key_for("signin-user", username.strip().casefold()),
        throttle.key_for("signin-addr", throttle.address_key(address)),
    )


def lockout(*, username: str, address: str) -> Lockout | None:
    """The lockout that refuses `username` from `address` now, if any."""
    seconds = throttle.locked_for(*_keys(username=username, address=address))
    return Lockout(retry_after=seconds) if seconds else None


def count_failure(*, username: str, address: str) -> Failure:
    """Count a failed sign-in; lock whatever just reached its limit.

    Across workers, exactly one failure starts each lockout (the one whose
    `cache.add` of the lock succeeds).
    """
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    user_key, address_key = _keys(username=username, address=address)
    counts = {
        "username": (user_key, settings.LOGIN_FAILURES_PER_USERNAME),
        "address": (address_key, settings.LOGIN_FAILURES_PER_ADDRESS),
    }
    seen: dict[str, int] = {}
    started = []
    for scope, (key, limit) in counts.items():
        seen[scope] = throttle.hit_sliding(key, window_seconds=window).count
        if 0 < limit <= seen[scope] and throttle.lock(
            key, seconds=settings.LOGIN_LOCKOUT_SECONDS
        ):
            started.append(scope)
    return Failure(
        username_failures=seen["username"],
        address_failures=seen["address"],
        started=tuple(started),
    )


def record_failure(*, username: str, address: str, reason: str) -> Failure:
    """Count a failed sign-in and audit it (caller's transaction).

    `reason` names the form and the username; the row's arguments carry
    the counts and any lockout this failure started.
    """
    failure = count_failure(username=username, address=address)
    if failure.started:
        scopes = " and ".join(failure.started)
        reason += f"; {scopes} locked for {settings.LOGIN_LOCKOUT_SECONDS} s"
    record_event(
        event=AuditEvent.Event.LOGIN_FAILED,
        outcome=AuditEvent.Outcome.DENIED,
        reason=reason,
        arguments=failure.arguments(),
    )
    return failure


def record_refusal(
    *, username: str, address: str, lockout: Lockout, reason: str
) -> None:
    """Audit a sign-in refused during a lockout, at most once a minute.

    One row per username and address a minute (caller's transaction): a
    flood against a locked account cannot flood the audit log.
    """
    key = throttle.key_for("signin-refused", *_keys(username=username, address=address))
    if not throttle.first_in(key, period_seconds=REFUSAL_AUDIT_SECONDS):
        return
    record_event(
        event=AuditEvent.Event.LOGIN_FAILED,
        outcome=AuditEvent.Outcome.DENIED,
        reason=f"{reason}: locked out (further refusals this minute not recorded)",
        arguments={"throttle": {"locked": True, "retry_after": lockout.retry_after}},
    )


def record_success(*, username: str) -> None:
    """Forget `username`'s failures (the current window and the one before)."""
    user_key, _ = _keys(username=username, address="")
    throttle.forget(user_key, window_seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)

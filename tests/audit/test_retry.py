"""The audit writer's one retry loop, on a fake clock: what, how often, how long."""

import sqlite3

import pytest
from django.db import IntegrityError, OperationalError

from audit.retry import StaleHead, Transient, retry_until, transient_kind


class _PostgresError(Exception):
    def __init__(self, sqlstate: str | None) -> None:
        self.sqlstate = sqlstate


def _sqlite_busy() -> OperationalError:
    exc = OperationalError("database is locked")
    exc.__cause__ = sqlite3.OperationalError("database is locked")
    return exc


def _postgres(sqlstate: str | None) -> OperationalError:
    exc = OperationalError("failed")
    exc.__cause__ = _PostgresError(sqlstate)
    return exc


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _failing(errors: list[Exception], result: str = "done"):
    def attempt() -> str:
        if errors:
            raise errors.pop(0)
        return result

    return attempt


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (_sqlite_busy(), Transient.BUSY),
        (StaleHead("audit chain head moved"), Transient.STALE_HEAD),
        (_postgres("40001"), Transient.OTHER),  # serialization failure
        (_postgres("08006"), Transient.OTHER),  # connection failure
        (_postgres(None), Transient.OTHER),  # connection lost, pool timeout
        (_postgres("23503"), None),  # a foreign key violation
        (IntegrityError("FOREIGN KEY constraint failed"), None),
        (ValueError("a bug"), None),
    ],
    ids=lambda value: getattr(value, "name", None) or repr(value)[:40],
)
def test_which_failures_are_transient(exc: Exception, kind: Transient | None):
    assert transient_kind(exc) is kind


def test_sqlite_busy_is_retried_every_tenth_of_a_millisecond_to_two():
    clock = _Clock()
    kinds: list[Transient] = []

    result = retry_until(
        1.0,
        _failing([_sqlite_busy() for _ in range(8)]),
        kinds.append,
        clock=clock,
        sleep=clock.sleep,
    )

    assert result == "done"
    assert kinds == [Transient.BUSY] * 8
    assert clock.sleeps == pytest.approx(
        [0.0001, 0.0002, 0.0004, 0.0008, 0.0016, 0.002, 0.002, 0.002]
    )


def test_other_transient_failures_back_off_to_a_tenth_of_a_second():
    clock = _Clock()

    retry_until(
        10.0,
        _failing([_postgres(None) for _ in range(12)]),
        lambda kind: None,
        clock=clock,
        sleep=clock.sleep,
    )

    assert clock.sleeps[0] == pytest.approx(0.0001)
    assert max(clock.sleeps) == clock.sleeps[-1] == pytest.approx(0.1)


def test_a_stale_head_is_retried_at_once():
    clock = _Clock()
    kinds: list[Transient] = []

    retry_until(
        1.0,
        _failing([StaleHead("moved")]),
        kinds.append,
        clock=clock,
        sleep=clock.sleep,
    )

    assert (kinds, clock.sleeps) == ([Transient.STALE_HEAD], [])


def test_retries_end_at_the_deadline_with_the_last_failure():
    clock = _Clock()
    errors = [_postgres("40001") for _ in range(1000)]
    attempt = _failing(errors)

    with pytest.raises(OperationalError):
        retry_until(0.5, attempt, lambda kind: None, clock=clock, sleep=clock.sleep)

    assert clock.now == pytest.approx(0.5)  # never slept past the deadline
    assert len(errors) > 900  # and stopped trying there


def test_a_failure_a_retry_cannot_cure_is_raised_at_once():
    clock = _Clock()
    errors: list[Exception] = [IntegrityError("FOREIGN KEY constraint failed")]

    with pytest.raises(IntegrityError):
        retry_until(
            1.0, _failing(errors), lambda kind: None, clock=clock, sleep=clock.sleep
        )

    assert clock.sleeps == []


def test_the_first_attempt_runs_even_after_the_deadline():
    clock = _Clock()
    clock.now = 5.0

    assert retry_until(1.0, _failing([]), lambda kind: None, clock=clock) == "done"

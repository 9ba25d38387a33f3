"""Benchmark runs: measure, compare two servers in alternation, sweep, plot.

Numbers from one run on a shared machine mean little alone, so a
comparison alternates the two targets round by round (A B, B A, A B, ...)
and reports the median of each and their ratio. Every run of ours is also
checked against the audit log: the rows written for the benchmark's client
during the run must equal its successful calls.
"""

import asyncio
import sqlite3
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from harness.loadgen import RunResult, Target, preflight, run_load


class AuditCounter(Protocol):
    """Counts the audit rows a target has written so far."""

    def count(self) -> int: ...


class DatabaseAuditCounter:
    """`tool_called` rows of one OAuth client in this project's audit log."""

    def __init__(self, client_id: str) -> None:
        self.client_id = client_id

    def count(self) -> int:
        from audit.models import AuditEvent

        return AuditEvent.objects.filter(
            client_id=self.client_id, event=AuditEvent.Event.TOOL_CALLED
        ).count()


class SqliteAuditCounter:
    """`tool_called` rows in another server's SQLite audit table (seedref)."""

    def __init__(self, path: Path, table: str = "audit") -> None:
        self.path, self.table = path, table

    def count(self) -> int:
        with sqlite3.connect(f"file:{self.path}?mode=ro", uri=True) as db:
            query = f"SELECT count(*) FROM {self.table} WHERE event = 'tool_called'"  # noqa: S608 - fixed table name
            return int(db.execute(query).fetchone()[0])


@dataclass
class Measured:
    """One run, with the audit rows it wrote (None: not checked)."""

    run: RunResult
    audit_rows: int | None = None

    @property
    def audit_ok(self) -> bool | None:
        if self.audit_rows is None:
            return None
        return self.audit_rows == self.run.ok


@dataclass
class Series:
    """Every round of one target at one concurrency."""

    target: Target
    concurrency: int
    rounds: list[Measured] = field(default_factory=list)

    def _median(self, value: Callable[[Measured], float]) -> float:
        return statistics.median(value(m) for m in self.rounds) if self.rounds else 0.0

    @property
    def calls_per_second(self) -> float:
        return self._median(lambda m: m.run.calls_per_second)

    def percentile_ms(self, p: float) -> float:
        return self._median(lambda m: m.run.percentile_ms(p))

    @property
    def errors(self) -> int:
        return sum(sum(m.run.errors.values()) for m in self.rounds)

    @property
    def audit_ok(self) -> bool | None:
        checks = [m.audit_ok for m in self.rounds if m.audit_ok is not None]
        return all(checks) if checks else None


@dataclass(frozen=True)
class Contender:
    target: Target
    audit: AuditCounter | None = None
    session_id: str | None = None


def _run(coro: object) -> object:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        return asyncio.run(coro)  # type: ignore[arg-type]
    return uvloop.run(coro)  # type: ignore[arg-type]


def prepare(target: Target, audit: AuditCounter | None = None) -> Contender:
    """Check the target answers one call; raises loadgen.LoadError if not."""
    session_id = _run(preflight(target))
    return Contender(target=target, audit=audit, session_id=session_id)  # type: ignore[arg-type]


def measure(
    contender: Contender,
    *,
    concurrency: int,
    calls: int,
    seconds: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> Measured:
    """One run against one target, with its audit rows counted around it."""
    before = contender.audit.count() if contender.audit else None
    run = _run(
        run_load(
            contender.target,
            concurrency=concurrency,
            calls=calls,
            seconds=seconds,
            session_id=contender.session_id,
            progress=progress,
        )
    )
    after = contender.audit.count() if contender.audit else None
    rows = None if before is None or after is None else after - before
    return Measured(run=run, audit_rows=rows)  # type: ignore[arg-type]


def compare(
    contenders: Sequence[Contender],
    *,
    concurrency: int,
    calls: int,
    rounds: int,
    seconds: float | None = None,
    warmup: int = 0,
    on_run: Callable[[int, Contender], Callable[[int], None] | None] | None = None,
) -> list[Series]:
    """Run every contender `rounds` times, alternating who goes first.

    `on_run(round, contender)` may return a progress callback for that run.
    """
    series = [Series(c.target, concurrency) for c in contenders]
    if warmup:
        for contender in contenders:
            measure(contender, concurrency=concurrency, calls=warmup)
    for index in range(rounds):
        order = list(range(len(contenders)))
        if index % 2:
            order.reverse()
        for position in order:
            contender = contenders[position]
            progress = on_run(index, contender) if on_run else None
            series[position].rounds.append(
                measure(
                    contender,
                    concurrency=concurrency,
                    calls=calls,
                    seconds=seconds,
                    progress=progress,
                )
            )
    return series


def sweep(
    contenders: Sequence[Contender],
    *,
    levels: Sequence[int],
    calls: int,
    rounds: int,
    seconds: float | None = None,
    warmup: int = 0,
    on_run: Callable[[int, int, Contender], Callable[[int], None] | None] | None = None,
    on_level: Callable[[int, list[Series]], None] | None = None,
) -> dict[int, list[Series]]:
    """`compare` at each concurrency of `levels`, in order; the series by level.

    `on_run(level, round, contender)` may return a progress callback for
    that run; `on_level(level, series)` hears each level as it ends.
    """
    results: dict[int, list[Series]] = {}
    for level in levels:
        results[level] = compare(
            contenders,
            concurrency=level,
            calls=calls,
            rounds=rounds,
            seconds=seconds,
            warmup=warmup,
            on_run=(
                (lambda index, c, level=level: on_run(level, index, c))
                if on_run
                else None
            ),
        )
        if on_level:
            on_level(level, results[level])
    return results


def plot(sweep: dict[int, list[Series]], path: Path) -> None:
    """Draw calls/s and p99 against concurrency for every target, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    levels = sorted(sweep)
    names = [s.target.name for s in sweep[levels[0]]]
    figure, (rate, tail) = pyplot.subplots(1, 2, figsize=(11, 4.2))
    for index, name in enumerate(names):
        rates = [sweep[c][index].calls_per_second for c in levels]
        p99s = [sweep[c][index].percentile_ms(99) for c in levels]
        rate.plot(levels, rates, marker="o", label=name)
        tail.plot(levels, p99s, marker="o", label=name)
    for axes, label in ((rate, "calls/s (median)"), (tail, "p99 latency, ms (median)")):
        axes.set_xscale("log", base=2)
        axes.set_xticks(levels, [str(c) for c in levels])
        axes.set_xlabel("concurrency (connections)")
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
        axes.legend()
    rate.set_ylim(bottom=0)
    tail.set_ylim(bottom=0)
    figure.suptitle("tools/call echo, audit on")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)

"""How a benchmark's results read: table rows, ratio, JSON and problems.

`HEADER` and `row` are the table `manage.py bench` prints, one row per
target and concurrency; `ratio` compares the first two targets of a level;
`as_json` is the `--json` document; `problems` lists what fails the run
(failed calls, audit rows that differ from the successful calls).
"""

from typing import Any

from harness.bench import Series

HEADER = (
    f"{'target':<34} {'conc':>5} {'calls':>7} {'calls/s':>9} {'p50 ms':>7} "
    f"{'p95 ms':>7} {'p99 ms':>7} {'errors':>6}  audit rows"
)


def row(series: Series) -> str:
    """One line of the table: medians of `series`, with its audit check."""
    audit = {None: "-", True: "ok", False: "MISMATCH"}[series.audit_ok]
    rows = ",".join(
        "-" if m.audit_rows is None else str(m.audit_rows) for m in series.rounds
    )
    calls = sum(m.run.calls for m in series.rounds)
    return (
        f"{series.target.name[:34]:<34} {series.concurrency:>5} {calls:>7} "
        f"{series.calls_per_second:>9.1f} {series.percentile_ms(50):>7.2f} "
        f"{series.percentile_ms(95):>7.2f} {series.percentile_ms(99):>7.2f} "
        f"{series.errors:>6}  {audit} ({rows})"
    )


def ratio(series: list[Series]) -> str:
    """The first target's calls/s and p99 over the second's, at one level."""
    ours, theirs = series[0], series[1]
    rate = (
        ours.calls_per_second / theirs.calls_per_second
        if theirs.calls_per_second
        else 0
    )
    p99 = (
        ours.percentile_ms(99) / theirs.percentile_ms(99)
        if theirs.percentile_ms(99)
        else 0
    )
    return (
        f"{'  ratio ' + ours.target.name + ' / ' + theirs.target.name:<40} "
        f"calls/s {rate:.2f}x, p99 {p99:.2f}x (medians of {len(ours.rounds)} "
        "alternating runs)"
    )


def as_json(results: dict[int, list[Series]]) -> dict[str, Any]:
    """Every level, target and round, as the `--json` document."""
    return {
        "levels": [
            {
                "concurrency": level,
                "targets": [
                    {
                        "name": s.target.name,
                        "url": s.target.url,
                        "calls_per_second": round(s.calls_per_second, 1),
                        "p50_ms": round(s.percentile_ms(50), 3),
                        "p95_ms": round(s.percentile_ms(95), 3),
                        "p99_ms": round(s.percentile_ms(99), 3),
                        "errors": s.errors,
                        "audit_ok": s.audit_ok,
                        "rounds": [
                            {
                                "calls": m.run.calls,
                                "ok": m.run.ok,
                                "seconds": round(m.run.elapsed, 3),
                                "calls_per_second": round(m.run.calls_per_second, 1),
                                "p99_ms": round(m.run.percentile_ms(99), 3),
                                "errors": dict(m.run.errors),
                                "audit_rows": m.audit_rows,
                            }
                            for m in s.rounds
                        ],
                    }
                    for s in series
                ],
            }
            for level, series in results.items()
        ]
    }


def problems(results: dict[int, list[Series]]) -> list[str]:
    """What fails the run: failed calls, and audit rows that do not match."""
    found = []
    for series in (s for level in results.values() for s in level):
        if series.errors:
            first = next(
                (m.run.first_error for m in series.rounds if m.run.first_error), ""
            )
            found.append(
                f"{series.target.name} c={series.concurrency}: "
                f"{series.errors} failed calls (first: {first[:200]})"
            )
        if series.audit_ok is False:
            found.append(
                f"{series.target.name} c={series.concurrency}: audit rows "
                "differ from successful calls (is the server on this "
                "DATABASE_URL?)"
            )
    return found

"""`manage.py bench`: drive tools/call against a running server and measure it.

    python manage.py bench --concurrency 16 --calls 500
    python manage.py bench --seconds 10 --rounds 3 \\
        --compare http://127.0.0.1:3900/mcp --compare-token "$SEEDREF_TOKEN"
    python manage.py bench --sweep 1,4,16,64 --plot bench.png --compare ...

Gets a token through the real OAuth flow (harness/flow.py), then makes the
calls (harness/loadgen.py) and prints calls/s, p50/p95/p99, errors and the
audit rows written during each run, which must equal its successful calls:
the bench reads the audit log through this project's DATABASE_URL, so run
it with the server's environment. Exits 1 if any call failed or the audit
check did not hold.
"""

import json
import sys
import time
from argparse import ArgumentParser
from pathlib import Path
from typing import Any, TextIO

import jwt
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from harness.bench import (
    Contender,
    DatabaseAuditCounter,
    Series,
    SqliteAuditCounter,
    compare,
    plot,
    prepare,
)
from harness.errors import HarnessError, UsageError
from harness.flow import sign_in
from harness.loadgen import PROTOCOL_VERSION, LoadError, Target
from tenants.demo import DEMO_PASSWORD


class _Progress:
    """A one-line progress bar on a terminal (nothing elsewhere)."""

    def __init__(self, stream: TextIO, enabled: bool) -> None:
        self.stream, self.enabled = stream, enabled

    def start(self, label: str, total: int | None) -> Any:
        if not self.enabled:
            return None
        width = 30
        last = 0.0

        def update(done: int) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last < 0.1 and done != total:
                return
            last = now
            if total:
                filled = width * done // total
                bar = "#" * filled + "." * (width - filled)
                self.stream.write(f"\r{label:<28} [{bar}] {done}/{total}")
            else:
                self.stream.write(f"\r{label:<28} {done} calls")
            if done == total:
                self.stream.write("\n")
            self.stream.flush()

        return update


def _row(series: Series) -> str:
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


HEADER = (
    f"{'target':<34} {'conc':>5} {'calls':>7} {'calls/s':>9} {'p50 ms':>7} "
    f"{'p95 ms':>7} {'p99 ms':>7} {'errors':>6}  audit rows"
)


class Command(BaseCommand):
    help = (
        "Benchmark tools/call on a running server (token through the real OAuth "
        "flow), optionally side by side with another MCP server."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--url", help="the MCP endpoint (default PUBLIC_URL/mcp)")
        parser.add_argument("--label", default="this server")
        parser.add_argument("--concurrency", type=int, default=16)
        parser.add_argument("--calls", type=int, default=500, help="calls per run")
        parser.add_argument(
            "--seconds", type=float, help="run for this long instead of --calls"
        )
        parser.add_argument(
            "--rounds", type=int, help="runs per target (default 1, 3 with --compare)"
        )
        parser.add_argument(
            "--warmup", type=int, default=100, help="unmeasured calls first"
        )
        parser.add_argument("--tool", default="echo")
        parser.add_argument("--args", dest="tool_args", default='{"message":"hello"}')
        parser.add_argument("--tenant", default="tenant-a")
        parser.add_argument("--user", default="alice")
        parser.add_argument("--password", default=DEMO_PASSWORD)
        parser.add_argument("--scope", default=None)
        parser.add_argument(
            "--token", help="use this access token instead of signing in"
        )
        parser.add_argument(
            "--protocol-version", default=PROTOCOL_VERSION, help="MCP-Protocol-Version"
        )
        parser.add_argument(
            "--no-audit-check",
            action="store_true",
            help="do not count audit rows (the server uses another database)",
        )
        parser.add_argument("--compare", metavar="URL", help="a second MCP endpoint")
        parser.add_argument("--compare-token", metavar="T")
        parser.add_argument("--compare-label", default="compared")
        parser.add_argument(
            "--compare-audit-db",
            type=Path,
            metavar="PATH",
            help="the compared server's SQLite audit file, to check its rows too",
        )
        parser.add_argument(
            "--sweep", metavar="C1,C2,...", help="concurrency levels to measure"
        )
        parser.add_argument("--plot", type=Path, metavar="PNG")
        parser.add_argument("--progress", action="store_true", default=None)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: object, **options: Any) -> None:
        try:
            self._handle(options)
        except HarnessError as error:
            raise CommandError(str(error), returncode=error.exit_code) from None
        except LoadError as error:
            raise CommandError(f"cannot measure: {error}", returncode=5) from None

    def _contenders(self, options: dict[str, Any]) -> list[Contender]:
        url = (options["url"] or settings.MCP_RESOURCE_URL).rstrip("/")
        try:
            arguments = json.loads(options["tool_args"])
        except ValueError as exc:
            raise UsageError(f"--args is not JSON: {exc}") from None
        token = options["token"]
        if token is None:
            grant = sign_in(
                url,
                username=options["user"],
                password=options["password"],
                tenant=options["tenant"],
                scope=options["scope"],
            )
            token, client_id = grant.access_token, grant.client_id
        elif options["no_audit_check"]:
            client_id = ""
        else:
            try:
                claims = jwt.decode(token, options={"verify_signature": False})
            except jwt.PyJWTError:
                raise UsageError(
                    "--token is not a JWT: its client_id names the audit rows "
                    "to count (or pass --no-audit-check)"
                ) from None
            client_id = str(claims.get("client_id", ""))
        common = {
            "tool": options["tool"],
            "arguments": arguments,
            "protocol_version": options["protocol_version"],
        }
        ours = Target(url=url, token=token, label=options["label"], **common)
        audit = None if options["no_audit_check"] else DatabaseAuditCounter(client_id)
        contenders = [prepare(ours, audit)]
        if options["compare"]:
            if not options["compare_token"]:
                raise UsageError("--compare needs --compare-token")
            theirs = Target(
                url=options["compare"],
                token=options["compare_token"],
                label=options["compare_label"],
                **common,
            )
            counter = (
                SqliteAuditCounter(options["compare_audit_db"])
                if options["compare_audit_db"]
                else None
            )
            contenders.append(prepare(theirs, counter))
        return contenders

    def _handle(self, options: dict[str, Any]) -> None:
        contenders = self._contenders(options)
        rounds = options["rounds"] or (3 if len(contenders) > 1 else 1)
        levels = (
            [int(c) for c in options["sweep"].split(",")]
            if options["sweep"]
            else [options["concurrency"]]
        )
        if options["plot"] and not options["sweep"]:
            raise UsageError("--plot needs --sweep")
        enabled = options["progress"]
        if enabled is None:
            enabled = sys.stderr.isatty() and not options["json"]
        bar = _Progress(self.stderr._out, enabled)
        total = None if options["seconds"] else options["calls"]

        results: dict[int, list[Series]] = {}
        if not options["json"]:
            self.stdout.write(HEADER)
        for level in levels:
            results[level] = compare(
                contenders,
                concurrency=level,
                calls=options["calls"],
                rounds=rounds,
                seconds=options["seconds"],
                warmup=options["warmup"],
                on_run=lambda index, c, level=level: bar.start(
                    f"{c.target.name[:16]} c={level} #{index + 1}", total
                ),
            )
            if not options["json"]:
                for series in results[level]:
                    self.stdout.write(_row(series))
                if len(contenders) > 1:
                    self.stdout.write(self._ratio(results[level]))
        if options["plot"]:
            plot(results, options["plot"])
            if not options["json"]:
                self.stdout.write(f"plot: {options['plot']}")
        if options["json"]:
            self.stdout.write(json.dumps(self._as_json(results), indent=2))
        self._check(results)

    @staticmethod
    def _ratio(series: list[Series]) -> str:
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

    @staticmethod
    def _as_json(results: dict[int, list[Series]]) -> dict[str, Any]:
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
                                    "calls_per_second": round(
                                        m.run.calls_per_second, 1
                                    ),
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

    def _check(self, results: dict[int, list[Series]]) -> None:
        problems = []
        for series in (s for level in results.values() for s in level):
            if series.errors:
                first = next(
                    (m.run.first_error for m in series.rounds if m.run.first_error), ""
                )
                problems.append(
                    f"{series.target.name} c={series.concurrency}: "
                    f"{series.errors} failed calls (first: {first[:200]})"
                )
            if series.audit_ok is False:
                problems.append(
                    f"{series.target.name} c={series.concurrency}: audit rows "
                    "differ from successful calls (is the server on this "
                    "DATABASE_URL?)"
                )
        if problems:
            raise CommandError("; ".join(problems), returncode=1)

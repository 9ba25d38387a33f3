"""`manage.py bench`: drive tools/call against a running server and measure it.

    python manage.py bench --concurrency 16 --calls 500
    python manage.py bench --seconds 10 --rounds 3 \\
        --compare http://127.0.0.1:3900/mcp --compare-token "$SEEDREF_TOKEN"
    python manage.py bench --sweep 1,4,16,64 --plot bench.png --compare ...

Gets a token through the real OAuth flow (harness/flow.py; the client
registration is reused as `manage.py harness` reuses it), then makes the
calls (harness/loadgen.py) and prints calls/s, p50/p95/p99, errors and the
audit rows written during each run, which must equal its successful calls:
the bench reads the audit log through this project's DATABASE_URL, so run
it with the server's environment. Exits 1 if any call failed or the audit
check did not hold.

The command only reads its options and writes: the contenders are
harness/bench_contenders.py's, the runs harness/bench.py's and the table,
JSON and problems harness/bench_report.py's.
"""

import json
import sys
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from harness.bench import Series, plot, sweep
from harness.bench_contenders import line_up
from harness.bench_report import HEADER, as_json, problems, ratio, row
from harness.errors import HarnessError, UsageError
from harness.loadgen import PROTOCOL_VERSION, LoadError
from harness.progress import ProgressBar
from harness.registration_cache import RegistrationCache, cache_path
from tenants.demo import DEMO_PASSWORD


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
            "--no-cache",
            action="store_true",
            help="sign in with a new client registration, not the cached one",
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

    def _handle(self, options: dict[str, Any]) -> None:
        contenders = line_up(
            url=(options["url"] or settings.MCP_RESOURCE_URL).rstrip("/"),
            label=options["label"],
            tool=options["tool"],
            tool_args=options["tool_args"],
            protocol_version=options["protocol_version"],
            token=options["token"],
            username=options["user"],
            password=options["password"],
            tenant=options["tenant"],
            scope=options["scope"],
            registrations=None
            if options["no_cache"]
            else RegistrationCache(cache_path()),
            audit_check=not options["no_audit_check"],
            compare_url=options["compare"],
            compare_token=options["compare_token"],
            compare_label=options["compare_label"],
            compare_audit_db=options["compare_audit_db"],
        )
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
        bar = ProgressBar(self.stderr._out, enabled)
        total = None if options["seconds"] else options["calls"]

        def show(level: int, series: list[Series]) -> None:
            if options["json"]:
                return
            for one in series:
                self.stdout.write(row(one))
            if len(series) > 1:
                self.stdout.write(ratio(series))

        if not options["json"]:
            self.stdout.write(HEADER)
        results = sweep(
            contenders,
            levels=levels,
            calls=options["calls"],
            rounds=rounds,
            seconds=options["seconds"],
            warmup=options["warmup"],
            on_run=lambda level, index, c: bar.start(
                f"{c.target.name[:16]} c={level} #{index + 1}", total
            ),
            on_level=show,
        )
        if options["plot"]:
            plot(results, options["plot"])
            if not options["json"]:
                self.stdout.write(f"plot: {options['plot']}")
        if options["json"]:
            self.stdout.write(json.dumps(as_json(results), indent=2))
        found = problems(results)
        if found:
            raise CommandError("; ".join(found), returncode=1)

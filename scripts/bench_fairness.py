"""The fairness comparison of scripts/bench_targets.py (`--only fairness`).

Against one server (one worker, as started by bench_targets): tenant-a gets
a quota of QUOTA calls/s (burst one second's worth, its one client may use
all of it), then tenant-b's client (carol) calls `echo` at a modest,
steady STEADY_RATE calls/s, alternately alone ("quiet") and while
tenant-a's client (alice) floods at FLOOD_FACTOR times its quota, round
by round (quiet flood, flood quiet, ...), both open loop
(scripts/fairness_load.mjs, one Node process each). The rows: tenant-b's p99 under the
flood against its p99 without it (medians over the rounds; goal at most
1.5), and how the flood's calls over the quota were answered (goal: every
one a 429, none timed out).
"""

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parent.parent
LOAD = ROOT / "scripts" / "fairness_load.mjs"
QUOTA = 100
STEADY_RATE = 100
FLOOD_FACTOR = 10
P99_GOAL = 1.5

SET_QUOTA = """
import os, sys
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()
from tenants.models import Tenant
rate = float(sys.argv[1])
Tenant.objects.filter(slug="tenant-a").update(
    quota_rate=rate, quota_burst=int(rate), quota_client_share=100
)
"""

Row = tuple[str, float, float, str]
"""(label, ratio, goal, numbers) as bench_targets prints them; a negative
goal means "at most -goal", a positive one "at least goal"."""


class Server(Protocol):
    url: str
    token: str
    env: dict[str, str]


def _start(url: str, seconds: float, token: str, rate: float) -> subprocess.Popen:
    return subprocess.Popen(
        ["node", str(LOAD), url, str(seconds), f"{token}:{rate}"],
        stdout=subprocess.PIPE,
        text=True,
    )


def _result(process: subprocess.Popen) -> dict[str, Any]:
    out, _ = process.communicate(timeout=120)
    if process.returncode:
        raise SystemExit(f"{LOAD.name} failed ({process.returncode})")
    return json.loads(out.strip().splitlines()[-1])[0]


def _round(
    url: str, seconds: int, steady: tuple[str, float], flood: tuple[str, float] | None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """tenant-b's stream for `seconds`, inside a flood if one is given.

    The flood runs in a Node process of its own, from half a second before
    to after the measured stream, so the measuring client's own event loop
    is not the one busy sending the flood.
    """
    flooding = _start(url, seconds + 1, *flood) if flood is not None else None
    if flooding is not None:
        time.sleep(0.5)
    measured = _result(_start(url, seconds, *steady))
    return measured, _result(flooding) if flooding is not None else None


def _python(server: Server, *args: str) -> str:
    run = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=server.env,
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode:
        raise SystemExit(f"python {args[0]} failed: {run.stderr}")
    return run.stdout.strip()


def measure(server: Server, *, rounds: int, seconds: int) -> list[Row]:
    """Run the comparison against `server` (whose token is alice's)."""
    _python(server, "-c", SET_QUOTA, str(QUOTA))
    steady_token = _python(
        server, "manage.py", "harness", "--print-token", "--tenant", "tenant-b"
    )
    time.sleep(1.5)  # past the policy cache, so the quota applies
    steady = (steady_token, STEADY_RATE)
    flood = (server.token, QUOTA * FLOOD_FACTOR)
    _round(server.url, 2, steady, flood)  # warm both paths up

    quiet_p99: list[float] = []
    flood_p99: list[float] = []
    floods: list[dict[str, Any]] = []
    for index in range(rounds):
        order = ["quiet", "flood"] if index % 2 == 0 else ["flood", "quiet"]
        for kind in order:
            tenant_b, tenant_a = _round(
                server.url, seconds, steady, flood if kind == "flood" else None
            )
            if tenant_b["statuses"] != {"200": tenant_b["sent"]}:
                raise SystemExit(f"tenant-b was not served in full: {tenant_b}")
            (quiet_p99 if kind == "quiet" else flood_p99).append(tenant_b["p99_ms"])
            if tenant_a is not None:
                floods.append(tenant_a)

    quiet, flooded = statistics.median(quiet_p99), statistics.median(flood_p99)
    sent = sum(f["sent"] for f in floods)
    admitted = sum(f["statuses"].get("200", 0) for f in floods)
    limited = sum(f["statuses"].get("429", 0) for f in floods)
    timeouts = sum(f["timeouts"] for f in floods)
    errors = sum(f["errors"] for f in floods)
    other = sent - admitted - limited - timeouts - errors
    label = (
        f"fairness, 1 worker: tenant-b p99 at {STEADY_RATE}/s, tenant-a flooding "
        f"at {FLOOD_FACTOR}x its {QUOTA}/s quota vs no flood"
    )
    return [
        (
            f"{label} (lower is better)",
            flooded / quiet,
            -P99_GOAL,
            f"{flooded:.1f} ms vs {quiet:.1f} ms",
        ),
        (
            "fairness: tenant-a's calls over its quota answered 429",
            limited / max(1, sent - admitted),
            1.0,
            f"{sent} sent: {admitted} admitted, {limited} 429, "
            f"{timeouts} timeouts, {errors} errors, {other} other",
        ),
    ]

"""Measure the performance targets of README "Performance", side by side.

    .venv/bin/python scripts/bench_targets.py                 # SQLite, 3 x 10 s
    .venv/bin/python scripts/bench_targets.py --database postgres
    .venv/bin/python scripts/bench_targets.py --tool bench    # manage.py bench
    .venv/bin/python scripts/bench_targets.py --plot bench.png
    .venv/bin/python scripts/bench_targets.py --baseline REV  # HEAD vs a commit
    .venv/bin/python scripts/bench_targets.py --only fairness  # quotas
    .venv/bin/python scripts/bench_targets.py --database postgres \
        --only audit --only auditpg --only audit-thread  # the audit's cost
    .venv/bin/python scripts/bench_targets.py --cluster  # 1-3 nodes, HAProxy

Starts, on a fresh database seeded with the demo data: this server with one
uvicorn worker, with two, and with one and the audit of tool calls off
(MCP_BENCHMARK, for the audit-cost ratio only), and for `auditpg` one
whose audit on PostgreSQL keeps the writer thread (MCP_AUDIT_PG_ASYNC=false)
instead of sending batches from the event loop; and the Node mockup's hot
path (../shared/seedref, copied to .cache/seedref and installed with
`npm ci` on first use). Every comparison alternates its two targets round
by round (A B, B A, A B) and takes the median of each, because the machine
is shared and noisy. The load generator is ../shared/bench/bench.sh (wrk;
`apt-get install -y wrk`) or, with --tool bench, `manage.py bench`.
With --baseline REV, one worker of this checkout is also measured against
one worker of commit REV (checked out with `git worktree` under .cache/,
run with this checkout's virtualenv on the same database): a change must
not cost throughput. `--only fairness` measures per-tenant quotas instead
(scripts/bench_fairness.py: one tenant flooding, another's p99). `--cluster`
measures clusters of 1, 2 and 3 nodes behind HAProxy on PostgreSQL and
Redis instead (scripts/bench_cluster.py; c=32 unless --concurrency).
Everything started is stopped at the end.
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deploy.nodes import uvicorn_command  # noqa: E402

SHARED = ROOT.parent / "shared"
CACHE = ROOT / ".cache"
PYTHON = sys.executable


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback
                return
        except OSError:
            time.sleep(0.25)
    raise SystemExit(f"{url} did not come up")


@dataclass
class Target:
    name: str
    url: str
    token: str
    env: dict[str, str]
    audited: bool = False  # its tool calls leave rows in our database


@contextmanager
def _database(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        path = CACHE / "bench" / f"bench-{uuid.uuid4().hex[:8]}.sqlite3"
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            yield f"sqlite:///{path}"
        finally:
            for leftover in path.parent.glob(path.name + "*"):
                leftover.unlink()
        return
    name = f"mcp_bench_{uuid.uuid4().hex[:8]}"
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True)
    try:
        yield f"postgres://postgres@127.0.0.1:5432/{name}"
    finally:
        subprocess.run(
            ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--force", name],
            check=False,
        )


@contextmanager
def _process(
    command: list[str], env: dict[str, str], log: Path, cwd: Path = ROOT
) -> Iterator[None]:
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            yield
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def _our_server(
    stack: ExitStack,
    database_url: str,
    workers: int,
    *,
    root: Path = ROOT,
    label: str = "django",
    **extra: str,
) -> Target:
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "DJANGO_DEBUG": "false",
        "ACCESS_TOKEN_LIFETIME_SECONDS": "7200",
        **extra,
    }
    stack.enter_context(
        _process(
            uvicorn_command(port, workers=workers),
            env,
            CACHE / "bench" / f"server-{port}.log",
            cwd=root,
        )
    )
    _wait_for(f"http://127.0.0.1:{port}/.well-known/oauth-authorization-server")
    token = subprocess.run(
        [PYTHON, "manage.py", "harness", "--print-token"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    audit = "off" if extra.get("MCP_AUDIT_TOOL_CALLS") == "false" else "on"
    name = f"{label} {workers}w audit {audit}"
    return Target(name, f"http://127.0.0.1:{port}/mcp", token, env, audit == "on")


@contextmanager
def _worktree(revision: str) -> Iterator[Path]:
    """A detached checkout of `revision` under .cache/, removed afterwards."""
    path = CACHE / "bench" / f"baseline-{uuid.uuid4().hex[:8]}"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(path), revision],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    try:
        shutil.copy(ROOT / ".env", path / ".env")
        yield path
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, check=False
        )


def _seedref(stack: ExitStack) -> Target:
    home = CACHE / "seedref"
    if not (home / "node_modules").exists():
        shutil.copytree(SHARED / "seedref", home, dirs_exist_ok=True)
        for path in [home, *home.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=home, check=True)
    port = _free_port()
    audit_db = CACHE / "bench" / f"seedref-{port}.db"
    env = {**os.environ, "PORT": str(port), "AUDIT_DB": str(audit_db)}
    stack.enter_context(
        _process(
            ["node", str(home / "server.js")], env, CACHE / "bench" / "seedref.log"
        )
    )
    base = f"http://127.0.0.1:{port}"
    _wait_for(f"{base}/.well-known/jwks.json")
    with urllib.request.urlopen(f"{base}/dev-token?tenant=tenant-a&sub=alice") as r:  # noqa: S310
        token = r.read().decode()
    return Target("seedref (Node mockup)", f"{base}/mcp", token, env)


def _wrk(target: Target, concurrency: int, seconds: int) -> tuple[float, float]:
    run = subprocess.run(
        [
            str(SHARED / "bench" / "bench.sh"),
            target.url,
            target.token,
            str(concurrency),
            str(seconds),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(x for x in run.stdout.splitlines() if x.startswith("RESULT"))
    fields = dict(part.split("=", 1) for part in line.split()[1:])
    if int(fields["errors"]):
        raise SystemExit(f"{target.name}: {fields['errors']} errors: {run.stderr}")
    return float(fields["calls_per_s"]), float(fields["p99_ms"])


def _bench(target: Target, concurrency: int, seconds: int) -> tuple[float, float]:
    run = subprocess.run(
        [
            PYTHON,
            "manage.py",
            "bench",
            "--url",
            target.url,
            "--token",
            target.token,
            "--concurrency",
            str(concurrency),
            "--seconds",
            str(seconds),
            "--warmup",
            "500",
            "--json",
            *([] if target.audited else ["--no-audit-check"]),
        ],
        cwd=ROOT,
        env=target.env,
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode:
        raise SystemExit(f"{target.name}: {run.stderr}")
    [series] = json.loads(run.stdout)["levels"][0]["targets"]
    return series["calls_per_second"], series["p99_ms"]


def _alternate(
    measure, a: Target, b: Target, conc_a: int, conc_b: int, rounds: int, seconds: int
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Medians of (calls/s, p99) for a and b, measured A B, B A, ..."""
    results: dict[str, list[tuple[float, float]]] = {"a": [], "b": []}
    for index in range(rounds):
        order = [("a", a, conc_a), ("b", b, conc_b)]
        for key, target, conc in order if index % 2 == 0 else reversed(order):
            results[key].append(measure(target, conc, seconds))

    def median(pairs: list[tuple[float, float]]) -> tuple[float, float]:
        return (
            statistics.median(p[0] for p in pairs),
            statistics.median(p[1] for p in pairs),
        )

    return median(results["a"]), median(results["b"])


class Comparison(NamedTuple):
    """Target `a` at `conc_a` against `b` at `conc_b` (names of servers)."""

    label: str
    a: str
    b: str
    conc_a: int
    conc_b: int
    goal: float
    with_p99: bool  # a p99 row too


COMPARISONS = {
    "one": Comparison("1 worker, c=16", "one", "seed", 16, 16, 1.2, True),
    "two": Comparison("2 workers, c=16", "two", "seed", 16, 16, 2.0, False),
    "audit": Comparison(
        "audit on vs off, 1 worker, c=16", "one", "off", 16, 16, 0.9, False
    ),
    "scale": Comparison("2 workers, c=16 vs c=1", "two", "two", 16, 1, 1.6, False),
    # PostgreSQL: the audit batch sent from the event loop (the default) vs
    # the writer thread (MCP_AUDIT_PG_ASYNC=false); and the thread's own cost.
    "auditpg": Comparison(
        "audit from the event loop vs writer thread, 1 worker, c=16",
        "one",
        "thread",
        16,
        16,
        1.0,
        True,
    ),
    "audit-thread": Comparison(
        "audit on (writer thread) vs off, 1 worker, c=16",
        "thread",
        "off",
        16,
        16,
        0.6,
        False,
    ),
    "baseline": Comparison(
        "1 worker, c=16, this checkout vs --baseline", "one", "base", 16, 16, 0.95, True
    ),
}


def _print_rows(rows: list, heading: str) -> None:
    print(f"\n{heading}\n")
    print("| comparison | ratio | target | met | numbers |")
    print("|---|---|---|---|---|")
    for label, ratio, target, numbers in rows:
        met = ratio <= -target if target < 0 else ratio >= target
        goal = f"≤ {-target}" if target < 0 else f"≥ {target}"
        verdict = "yes" if met else "no"
        if target == 0:  # measured for the record, no target
            goal = verdict = "—"
        print(f"| {label} | {ratio:.2f} | {goal} | {verdict} | {numbers} |")


def _cluster(args: argparse.Namespace) -> None:
    """--cluster: scripts/bench_cluster.py on a fresh PostgreSQL database."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    import bench_cluster

    with _database("postgres") as database_url:
        rows = bench_cluster.measure(
            database_url,
            cache_url=args.cache_url,
            rounds=args.rounds,
            seconds=args.seconds,
            concurrency=args.concurrency,
        )
    _print_rows(
        rows,
        f"postgres, wrk through HAProxy, c={args.concurrency}, median of "
        f"{args.rounds} alternating runs of {args.seconds} s, {os.cpu_count()} cores",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--tool", choices=["wrk", "bench"], default="wrk")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--plot", type=Path, help="also sweep 1,4,16,64 and draw")
    parser.add_argument(
        "--only",
        choices=sorted([*COMPARISONS, "fairness"]),
        action="append",
        help="measure only this comparison (repeatable); starts only its servers",
    )
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="also compare one worker with one worker of commit REV",
    )
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="1, 2 and 3 nodes through HAProxy on PostgreSQL (and 1 audit off)",
    )
    parser.add_argument("--concurrency", type=int, default=32, help="--cluster's")
    parser.add_argument(
        "--cache-url",
        default=os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/15"),
        help="--cluster's shared Redis (default database 15)",
    )
    args = parser.parse_args()
    if args.cluster:
        _cluster(args)
        return
    if args.baseline and not args.only:
        args.only = ["baseline"]
    elif args.baseline and "baseline" not in args.only:
        args.only.append("baseline")
    if args.only and "baseline" in args.only and not args.baseline:
        raise SystemExit("--only baseline needs --baseline REV")
    measure = _wrk if args.tool == "wrk" else _bench
    wrk_needed = set(args.only or COMPARISONS) - {"fairness"}
    if args.tool == "wrk" and wrk_needed and shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk")

    with ExitStack() as stack:
        database_url = stack.enter_context(_database(args.database))
        env = {**os.environ, "DATABASE_URL": database_url}
        # The login page the harness signs in through links the stylesheet,
        # which the servers name from collectstatic's manifest.
        setup = (["migrate", "-v0"], ["seed_demo"], ["collectstatic", "--noinput"])
        for command in setup:
            subprocess.run(
                [PYTHON, "manage.py", *command],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
            )
        chosen = [key for key in args.only or COMPARISONS if key != "fairness"]
        needed = {
            name for key in chosen for name in (COMPARISONS[key].a, COMPARISONS[key].b)
        }
        if args.plot:
            needed |= {"two", "seed"}
        starters = {
            "one": lambda: _our_server(stack, database_url, 1),
            "two": lambda: _our_server(stack, database_url, 2),
            "off": lambda: _our_server(
                stack,
                database_url,
                1,
                MCP_BENCHMARK="true",
                MCP_AUDIT_TOOL_CALLS="false",
            ),
            "thread": lambda: _our_server(
                stack,
                database_url,
                1,
                label="django thread-audit",
                MCP_AUDIT_PG_ASYNC="false",
            ),
            "seed": lambda: _seedref(stack),
            "base": lambda: _our_server(
                stack,
                database_url,
                1,
                root=stack.enter_context(_worktree(args.baseline)),
                label=f"django@{args.baseline}",
            ),
        }
        targets = {name: start() for name, start in starters.items() if name in needed}
        for target in targets.values():  # warm every path up once
            measure(target, 16, 2)

        rows = []
        if args.only and "fairness" in args.only:
            import bench_fairness

            fair = _our_server(stack, database_url, 1, label="fairness")
            rows += bench_fairness.measure(
                fair, rounds=args.rounds, seconds=args.seconds
            )
        for key in chosen:
            label, a_name, b_name, conc_a, conc_b, goal, with_p99 = COMPARISONS[key]
            a, b = targets[a_name], targets[b_name]
            ours, theirs = _alternate(
                measure, a, b, conc_a, conc_b, args.rounds, args.seconds
            )
            versus = {"seed": " vs seedref", "base": f" vs {args.baseline}"}.get(
                b_name, ""
            )
            rows.append(
                (
                    f"{label}: calls/s{versus}",
                    ours[0] / theirs[0],
                    goal,
                    f"{ours[0]:.0f} vs {theirs[0]:.0f}",
                )
            )
            if with_p99:  # a negative goal: lower is better, at most -goal
                rows.append(
                    (
                        f"{label}: p99{versus} (lower is better)",
                        ours[1] / theirs[1],
                        -1.0,
                        f"{ours[1]:.1f} ms vs {theirs[1]:.1f} ms",
                    )
                )

        _print_rows(
            rows,
            f"{args.database}, {args.tool}, median of {args.rounds} alternating "
            f"runs of {args.seconds} s, {os.cpu_count()} cores",
        )

        if args.plot:
            subprocess.run(
                [
                    PYTHON,
                    "manage.py",
                    "bench",
                    "--url",
                    targets["two"].url,
                    "--token",
                    targets["two"].token,
                    "--label",
                    f"django, 2 workers ({args.database})",
                    "--seconds",
                    str(args.seconds),
                    "--rounds",
                    str(args.rounds),
                    "--warmup",
                    "500",
                    "--sweep",
                    "1,4,16,64",
                    "--plot",
                    str(args.plot),
                    "--compare",
                    targets["seed"].url,
                    "--compare-token",
                    targets["seed"].token,
                    "--compare-label",
                    "seedref",
                ],
                cwd=ROOT,
                env=targets["two"].env,
                check=True,
            )


if __name__ == "__main__":
    main()

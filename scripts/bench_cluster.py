"""`bench_targets.py --cluster`: 1, 2 and 3 nodes through HAProxy, side by side.

Starts four clusters (deploy/cluster.py) on one fresh PostgreSQL database
and Redis: 1, 2 and 3 single-worker nodes, and 1 node with the audit of
tool calls off (MCP_BENCHMARK). Each round loads every cluster in turn
through its HAProxy with ../shared/bench/bench.sh (wrk, `tools/call echo`
at the given concurrency), the order reversed every other round, because
the machine is shared and noisy; the medians are compared. For every run
it also reads, from /proc, the CPU time all the cluster's node processes
used (HAProxy's separately), from HAProxy's counters how the requests
spread over the nodes, and from each node's /metrics how many audit events
each commit held (mcp_audit_batch_size), and from /proc/stat how much of
the machine's CPU time its host took away (steal: on a shared virtual
machine, the noise that makes runs minutes apart disagree).

The rows: calls/s of 2 and 3 nodes against 1; server CPU per call (all
node processes together) of 2 and 3 nodes against 1 (lower is better); the
audit on/off ratio with one node; each node's share of the requests. The
targets (README "Running a cluster") are for two nodes; three are
measured for the record (three processes on two cores).
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deploy import balancer, cluster  # noqa: E402
from deploy.state import ClusterState  # noqa: E402

BENCH_SH = ROOT.parent / "shared" / "bench" / "bench.sh"
CLK_TCK = os.sysconf("SC_CLK_TCK")
Row = tuple[str, float, float, str]


@dataclass
class Run:
    """One load run against one cluster."""

    calls_per_s: float
    p99_ms: float
    calls: int
    node_cpu_s: float
    haproxy_cpu_s: float
    per_node: dict[str, int]  # requests HAProxy sent to each node
    audit_batches: tuple[float, float] = (0.0, 0.0)  # events, batches committed
    steal: float = 0.0  # share of the machine's CPU time its host took away


@dataclass
class Subject:
    """A running cluster under load, and its runs."""

    label: str
    state: ClusterState
    token: str
    runs: list[Run] = field(default_factory=list)

    def median(self, attribute: str) -> float:
        return statistics.median(getattr(run, attribute) for run in self.runs)

    def cpu_us_per_call(self) -> float:
        return statistics.median(
            run.node_cpu_s * 1e6 / max(run.calls, 1) for run in self.runs
        )


def _cpu_seconds(pids: list[int]) -> float:
    """CPU time (user + system) of `pids`, their threads and their children."""
    seen: set[int] = set()
    ticks = 0
    pending = list(pids)
    while pending:
        pid = pending.pop()
        if pid in seen:
            continue
        seen.add(pid)
        tasks = Path(f"/proc/{pid}/task")
        for task in tasks.glob("*") if tasks.exists() else []:
            try:
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
            try:
                children = (task / "children").read_text().split()
            except OSError:
                children = []
            pending += [int(child) for child in children]
    return ticks / CLK_TCK


def _cpu_times() -> list[int]:
    """The machine's CPU times (/proc/stat's first line, in ticks)."""
    with open("/proc/stat") as stat:
        return [int(value) for value in stat.readline().split()[1:]]


def _steal(before: list[int], after: list[int]) -> float:
    """The share of CPU time between two `_cpu_times` the hypervisor gave
    other guests (steal): a run with much of it measured a slower machine."""
    spent = [b - a for a, b in zip(before, after, strict=True)]
    return spent[7] / max(sum(spent), 1)


def _audit_batches(state: ClusterState) -> tuple[float, float]:
    """(events, batches) the audit writers of `state`'s nodes committed so
    far: the sum and count of mcp_audit_batch_size on each node's /metrics
    (a node that does not answer counts nothing)."""
    events = batches = 0.0
    for node in state.nodes:
        try:
            url = f"{node.url}/metrics"  # the node's own loopback URL
            with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310
                text = answer.read().decode()
        except OSError:
            continue
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name.startswith("mcp_audit_batch_size_sum"):
                events += float(value)
            elif name.startswith("mcp_audit_batch_size_count"):
                batches += float(value)
    return events, batches


def _requests_by_node(state: ClusterState) -> dict[str, int]:
    stats = balancer.server_stats(state.socket_path)
    return {
        node.server: stats[node.server].sessions_total
        for node in state.nodes
        if node.server in stats
    }


def _load(subject: Subject, concurrency: int, seconds: int) -> Run:
    state = subject.state
    node_pids = [node.pid for node in state.nodes]
    before = _requests_by_node(state)
    batches_before = _audit_batches(state)
    cpu_before = _cpu_seconds(node_pids)
    proxy_before = _cpu_seconds([state.haproxy_pid])
    machine_before = _cpu_times()
    run = subprocess.run(
        [
            str(BENCH_SH),
            f"{state.public_url}/mcp",
            subject.token,
            str(concurrency),
            str(seconds),
        ],
        env={**os.environ, "WARMUP": "0"},
        capture_output=True,
        text=True,
        check=True,
    )
    steal = _steal(machine_before, _cpu_times())
    cpu = _cpu_seconds(node_pids) - cpu_before
    proxy = _cpu_seconds([state.haproxy_pid]) - proxy_before
    after = _requests_by_node(state)
    batches_after = _audit_batches(state)
    line = next(x for x in run.stdout.splitlines() if x.startswith("RESULT"))
    fields = dict(part.split("=", 1) for part in line.split()[1:])
    if int(fields["errors"]):
        raise SystemExit(f"{subject.label}: {fields['errors']} errors: {run.stderr}")
    return Run(
        calls_per_s=float(fields["calls_per_s"]),
        p99_ms=float(fields["p99_ms"]),
        calls=int(fields["requests"]),
        node_cpu_s=cpu,
        haproxy_cpu_s=proxy,
        per_node={name: after[name] - before.get(name, 0) for name in after},
        audit_batches=(
            batches_after[0] - batches_before[0],
            batches_after[1] - batches_before[1],
        ),
        steal=steal,
    )


def _token(state: ClusterState) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", "harness", "--print-token"],
        cwd=ROOT,
        env=state.env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@contextmanager
def _cluster(
    label: str, node_count: int, database_url: str, cache_url: str, **extra: str
) -> Iterator[Subject]:
    (ROOT / ".cache" / "bench").mkdir(parents=True, exist_ok=True)
    state_dir = Path(tempfile.mkdtemp(prefix="cluster-", dir=ROOT / ".cache" / "bench"))
    port = cluster.free_port()
    try:
        state = cluster.up(
            node_count=node_count,
            public_port=port,
            database_url=database_url,
            cache_url=cache_url,
            state_dir=state_dir,
            extra_env={
                "DJANGO_DEBUG": "false",
                "ACCESS_TOKEN_LIFETIME_SECONDS": "7200",
                **extra,
            },
        )
        yield Subject(label, state, _token(state))
    finally:
        cluster.down(state_dir)
        shutil.rmtree(state_dir, ignore_errors=True)


def measure(
    database_url: str,
    *,
    cache_url: str,
    rounds: int,
    seconds: int,
    concurrency: int = 32,
) -> list[Row]:
    """Start the four clusters, load them in alternating rounds, compare."""
    with ExitStack() as stack:
        subjects = {
            key: stack.enter_context(
                _cluster(label, count, database_url, cache_url, **extra)
            )
            for key, label, count, extra in [
                ("one", "1 node", 1, {}),
                ("two", "2 nodes", 2, {}),
                ("three", "3 nodes", 3, {}),
                (
                    "off",
                    "1 node, audit off",
                    1,
                    {"MCP_BENCHMARK": "true", "MCP_AUDIT_TOOL_CALLS": "false"},
                ),
            ]
        }
        for subject in subjects.values():  # warm every node's paths up
            _load(subject, concurrency, 2)
        order = list(subjects.values())
        for index in range(rounds):
            for subject in order if index % 2 == 0 else reversed(order):
                subject.runs.append(_load(subject, concurrency, seconds))
        return _rows(subjects, concurrency)


def _rows(subjects: dict[str, Subject], concurrency: int) -> list[Row]:
    one, two, three, off = (subjects[k] for k in ("one", "two", "three", "off"))
    rows: list[Row] = []
    for subject in (two, three):
        # The targets are for two nodes: three single-worker nodes on this
        # 2-core machine share two cores with PostgreSQL, HAProxy and wrk.
        targeted = subject is two
        rows.append(
            (
                f"{subject.label} vs 1 node, c={concurrency}: calls/s",
                subject.median("calls_per_s") / one.median("calls_per_s"),
                1.25 if targeted else 0.0,
                f"{subject.median('calls_per_s'):.0f} vs "
                f"{one.median('calls_per_s'):.0f}; p99 "
                f"{subject.median('p99_ms'):.1f} vs {one.median('p99_ms'):.1f} ms",
            )
        )
        rows.append(
            (
                f"{subject.label} vs 1 node: server CPU per call (lower is better)",
                subject.cpu_us_per_call() / one.cpu_us_per_call(),
                -1.15 if targeted else 0.0,
                f"{subject.cpu_us_per_call():.0f} vs {one.cpu_us_per_call():.0f} µs"
                f" (HAProxy: {_proxy_us(subject):.0f} vs {_proxy_us(one):.0f} µs;"
                f" audit events per commit: {_mean_batch(subject):.1f} vs"
                f" {_mean_batch(one):.1f})",
            )
        )
    rows.append(
        (
            f"audit on vs off, 1 node, c={concurrency}: calls/s",
            one.median("calls_per_s") / off.median("calls_per_s"),
            0.6,
            f"{one.median('calls_per_s'):.0f} vs {off.median('calls_per_s'):.0f}",
        )
    )
    for subject in (two, three):
        rows.append(
            (
                f"{subject.label}: busiest node's share of requests vs an even one",
                _busiest_share(subject) * len(subject.state.nodes),
                -1.25,
                ", ".join(
                    f"{name} {share:.0%}" for name, share in _shares(subject).items()
                ),
            )
        )
    steals = [run.steal for subject in subjects.values() for run in subject.runs]
    rows.append(
        (
            "CPU time the host took away during the runs (steal; noise)",
            statistics.median(steals),
            0.0,
            f"median {statistics.median(steals):.0%}, worst {max(steals):.0%}",
        )
    )
    return rows


def _mean_batch(subject: Subject) -> float:
    """Audit events per committed batch, all runs and nodes together: a
    saturated node commits larger batches, which costs less per call."""
    events = sum(run.audit_batches[0] for run in subject.runs)
    batches = sum(run.audit_batches[1] for run in subject.runs)
    return events / batches if batches else 0.0


def _proxy_us(subject: Subject) -> float:
    return statistics.median(
        run.haproxy_cpu_s * 1e6 / max(run.calls, 1) for run in subject.runs
    )


def _shares(subject: Subject) -> dict[str, float]:
    totals: dict[str, int] = {}
    for run in subject.runs:
        for name, count in run.per_node.items():
            totals[name] = totals.get(name, 0) + count
    everything = sum(totals.values()) or 1
    return {name: count / everything for name, count in sorted(totals.items())}


def _busiest_share(subject: Subject) -> float:
    return max(_shares(subject).values(), default=0.0)

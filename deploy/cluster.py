"""A cluster on one machine: N uvicorn nodes behind HAProxy, one database.

`up` prepares the database once (migrate, demo data, static files),
starts the nodes and HAProxy (deploy/haproxy.cfg), waits until every node
is ready twice over (its own /readyz answers 200 and HAProxy's checks
have it UP), and records what it started (deploy/state.py), so that
`status`, `restart`, `kill` and `down` of a later command find it.
`down` stops exactly what `up` started, by process group.
scripts/cluster.py is the command line; tests/cluster/ calls these
functions.

Every node shares the database (PostgreSQL: SQLite cannot be shared by
several hosts) and the cache (Redis: quotas, rate limits and lockouts
are counted across nodes), and has PUBLIC_URL = HAProxy's URL, so the
issuer, the tokens' audience and every advertised URL are the cluster's.
"""

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from deploy import balancer, nodes
from deploy.nodes import ROOT
from deploy.state import STATE_DIR, ClusterError, ClusterState, Node

DRAIN_SECONDS = 3.0
"""MCP_SHUTDOWN_DRAIN_SECONDS of cluster nodes: more than HAProxy's
fall x inter (2 x 0.5 s, deploy/haproxy.cfg) plus a probe's own time, so
a node leaves rotation before it stops accepting connections."""
STOP_BOUND = DRAIN_SECONDS + nodes.GRACEFUL_TIMEOUT_SECONDS + 30
"""How long a SIGTERMed node may take (drain, requests in flight, the audit
writer's queue, up to 25 s) before it is SIGKILLed."""
READY_BOUND = 120.0


def refuse_sqlite(database_url: str) -> str:
    """`database_url` if it names PostgreSQL; ClusterError otherwise."""
    if not database_url.startswith(("postgres://", "postgresql://")):
        raise ClusterError(
            "a cluster needs PostgreSQL (--database-url postgres://...): "
            "SQLite is one file on one machine, its nodes could not share it"
        )
    return database_url


def manage(env: dict[str, str], *args: str) -> None:
    """Run a manage.py command for the cluster; ClusterError if it fails."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise ClusterError(f"manage.py {' '.join(args)} failed:\n{result.stderr}")


def up(
    *,
    node_count: int,
    public_port: int,
    database_url: str,
    cache_url: str,
    sessions: bool = False,
    public_host: str = "127.0.0.1",
    state_dir: Path = STATE_DIR,
    extra_env: dict[str, str] | None = None,
    say: Callable[[str], None] = lambda line: None,
) -> ClusterState:
    """Start a ready cluster (see the module); stop what it started on failure.

    ClusterError when the database is not PostgreSQL, a cluster recorded
    in `state_dir` still runs, or the cluster is not ready in READY_BOUND.
    """
    refuse_sqlite(database_url)
    if not 1 <= node_count <= balancer.SLOTS:
        raise ClusterError(f"--nodes must be 1-{balancer.SLOTS}")
    state_dir = Path(state_dir)
    _refuse_running(state_dir)
    (state_dir / "logs").mkdir(parents=True, exist_ok=True)
    public_url = f"http://{public_host}:{public_port}"
    state = ClusterState(
        public_url=public_url,
        public_host=public_host,
        public_port=public_port,
        stats_port=free_port(),
        state_dir=str(state_dir),
        node_env={
            "DATABASE_URL": database_url,
            "CACHE_URL": cache_url,
            "PUBLIC_URL": public_url,
            "MCP_SESSIONS": "true" if sessions else "false",
            "MCP_SHUTDOWN_DRAIN_SECONDS": str(DRAIN_SECONDS),
            "DJANGO_STATIC_ROOT": str(state_dir / "static"),
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        },
    )
    balancer.check_config(state.addresses)
    env = state.env()
    say("migrating and seeding the demo data")
    manage(env, "migrate", "--noinput")
    manage(env, "seed_demo")
    manage(env, "collectstatic", "--noinput")
    try:
        for index in range(1, node_count + 1):
            node = Node(
                index, free_port(), 0, str(state_dir / "logs" / f"node{index}.log")
            )
            node.pid = nodes.spawn(nodes.node_command(node.port), env, Path(node.log))
            state.nodes.append(node)
            state.save()
            say(f"node {index} pid={node.pid} url={node.url}")
        state.socket_path.unlink(missing_ok=True)
        state.haproxy_pid = balancer.start(
            state.addresses, state_dir / "logs" / "haproxy.log"
        )
        state.save()
        balancer.wait_socket(
            state.socket_path, lambda: nodes.alive(state.haproxy_pid), 15
        )
        for node in state.nodes:
            balancer.enable_slot(state.socket_path, node.index, "127.0.0.1", node.port)
        wait_ready(state, [node.index for node in state.nodes])
    except BaseException:
        down(state_dir)
        raise
    say(f"haproxy pid={state.haproxy_pid} stats=http://127.0.0.1:{state.stats_port}/")
    return state


def node_ready(state: ClusterState, node: Node) -> tuple[bool, str]:
    """(ready, words): its /readyz answers 200 and HAProxy has it UP."""
    answer = nodes.readyz(node.url)
    try:
        seen = balancer.server_stats(state.socket_path).get(node.server)
    except OSError:
        seen = None
    status = seen.status if seen else "unknown"
    return answer == 200 and status == "UP", f"/readyz {answer}, haproxy {status}"


def wait_ready(
    state: ClusterState, indexes: list[int], bound: float = READY_BOUND
) -> None:
    """Wait until every node of `indexes` is ready; ClusterError past `bound`."""
    deadline = time.monotonic() + bound
    waiting = list(indexes)
    words: dict[int, str] = {}
    while waiting and time.monotonic() < deadline:
        for index in list(waiting):
            node = state.node(index)
            if not nodes.alive(node.pid):
                raise ClusterError(
                    f"node {index} exited; its log {node.log}:\n"
                    + Path(node.log).read_text(errors="replace")[-3000:]
                )
            ready, words[index] = node_ready(state, node)
            if ready:
                waiting.remove(index)
        if waiting:
            time.sleep(0.2)
    if waiting:
        raise ClusterError(
            f"not ready in {bound:g} s: "
            + ", ".join(f"node {i} ({words.get(i)})" for i in waiting)
        )


def wait_out_of_rotation(
    state: ClusterState, index: int, bound: float = READY_BOUND
) -> None:
    """Wait until HAProxy's checks have node `index` DOWN; ClusterError past
    `bound`. Until then a request may still be sent to it (on a connection
    HAProxy kept open to it: such a request gets 502 if the node died)."""
    server = state.node(index).server
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        seen = balancer.server_stats(state.socket_path).get(server)
        if seen is not None and seen.status.startswith(("DOWN", "MAINT")):
            return
        time.sleep(0.1)
    raise ClusterError(f"haproxy still sends node {index} requests after {bound:g} s")


def status_lines(state: ClusterState) -> list[str]:
    """`node <n> pid=<pid> url=<url> ready|not-ready` per node, then HAProxy."""
    lines = []
    for node in state.nodes:
        ready = nodes.alive(node.pid) and node_ready(state, node)[0]
        lines.append(
            f"node {node.index} pid={node.pid} url={node.url} "
            f"{'ready' if ready else 'not-ready'}"
        )
    running = nodes.alive(state.haproxy_pid)
    try:
        stats = balancer.server_stats(state.socket_path) if running else {}
    except OSError:
        stats = {}
    up_count = sum(
        1
        for node in state.nodes
        if getattr(stats.get(node.server), "status", "") == "UP"
    )
    lines.append(
        f"haproxy pid={state.haproxy_pid} url={state.public_url} "
        f"{'running' if running else 'stopped'} nodes-up={up_count}/{len(state.nodes)}"
    )
    return lines


def share_lines(state: ClusterState) -> list[str]:
    """Per node: requests HAProxy sent it since it started, their share, 5xx."""
    stats = balancer.server_stats(state.socket_path)
    counted = [stats[node.server] for node in state.nodes if node.server in stats]
    total = sum(seen.sessions_total for seen in counted) or 1
    return [
        f"{seen.name} {seen.status} requests={seen.sessions_total} "
        f"share={100 * seen.sessions_total / total:.1f}% 5xx={seen.http_5xx}"
        for seen in counted
    ]


def restart_node(
    state: ClusterState, index: int, *, bound: float = READY_BOUND
) -> Node:
    """SIGTERM node `index`, wait for it to exit, start it again, wait ready."""
    node = state.node(index)
    nodes.stop(node.pid, bound=STOP_BOUND)
    return start_node(state, index, bound=bound)


def start_node(state: ClusterState, index: int, *, bound: float = READY_BOUND) -> Node:
    """Start node `index` again on its port (after a kill); wait until ready."""
    node = state.node(index)
    if nodes.alive(node.pid):
        raise ClusterError(f"node {index} still runs (pid {node.pid})")
    node.pid = nodes.spawn(nodes.node_command(node.port), state.env(), Path(node.log))
    state.save()
    wait_ready(state, [index], bound)
    return node


def kill_node(state: ClusterState, index: int) -> Node:
    """SIGKILL node `index`'s process group (no drain, no audit flush)."""
    node = state.node(index)
    nodes.kill(node.pid)
    return node


def down(state_dir: Path = STATE_DIR) -> list[str]:
    """Stop every process `up` recorded in `state_dir`; what was stopped.

    HAProxy first (no new requests), then each node by SIGTERM to its group
    (it drains), SIGKILL past STOP_BOUND. Forgets the cluster afterwards.
    """
    try:
        state = ClusterState.load(state_dir)
    except ClusterError:
        return []
    stopped = []
    if state.haproxy_pid and nodes.alive(state.haproxy_pid):
        nodes.stop(state.haproxy_pid, bound=10)
        stopped.append(f"haproxy pid={state.haproxy_pid}")
    running = [node for node in state.nodes if nodes.alive(node.pid)]
    for node in running:  # all drain at once, not in turn
        nodes.signal_group(node.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_BOUND
    for node in running:
        if not nodes.wait_exit(node.pid, max(0.0, deadline - time.monotonic())):
            nodes.kill(node.pid)
        nodes.signal_group(node.pid, signal.SIGKILL)  # anything left in its group
        stopped.append(f"node {node.index} pid={node.pid}")
    (Path(state_dir) / "state.json").unlink(missing_ok=True)
    state.socket_path.unlink(missing_ok=True)
    return stopped


def _refuse_running(state_dir: Path) -> None:
    try:
        state = ClusterState.load(state_dir)
    except ClusterError:
        return
    pids = [state.haproxy_pid, *(node.pid for node in state.nodes)]
    if any(pid and nodes.alive(pid) for pid in pids):
        raise ClusterError(
            f"a cluster recorded in {state_dir} still runs: `down` it first"
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]

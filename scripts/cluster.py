"""A cluster on this machine: uvicorn nodes behind HAProxy (deploy/).

    .venv/bin/python scripts/cluster.py up --nodes 3 [--port 8080] \\
        [--database-url postgres://...] [--cache-url redis://...] [--sessions]
    .venv/bin/python scripts/cluster.py status
    .venv/bin/python scripts/cluster.py share        # requests per node
    .venv/bin/python scripts/cluster.py restart 2     # SIGTERM, start, ready
    .venv/bin/python scripts/cluster.py kill 2        # SIGKILL
    .venv/bin/python scripts/cluster.py start 2       # after a kill
    .venv/bin/python scripts/cluster.py down

`up` migrates and seeds the database once, starts each node (one uvicorn
worker, its own process group and port, PUBLIC_URL = HAProxy's URL) and
HAProxy with deploy/haproxy.cfg, waits until every node's /readyz answers
200 and HAProxy has it UP, and prints the public URL as its last line.
The database defaults to DATABASE_URL (PostgreSQL only), the cache to
CACHE_URL (else Redis on 127.0.0.1:6379/0). What it started is recorded
in .cache/cluster/ (state.json, logs/); `down` stops exactly that.
Exit status 1, with the reason, when a command cannot do its job.
"""

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deploy import cluster
from deploy.state import ClusterError, ClusterState


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start_up = commands.add_parser("up", help="start a cluster")
    start_up.add_argument("--nodes", type=int, default=2)
    start_up.add_argument("--port", type=int, default=8080, help="HAProxy's port")
    start_up.add_argument("--host", default="127.0.0.1", help="HAProxy's address")
    start_up.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    start_up.add_argument(
        "--cache-url",
        default=os.environ.get("CACHE_URL", "redis://127.0.0.1:6379/0"),
    )
    start_up.add_argument(
        "--sessions", action="store_true", help="MCP_SESSIONS=true (SSE, sticky)"
    )
    commands.add_parser("status", help="one line per node, then HAProxy")
    commands.add_parser("share", help="requests HAProxy sent each node")
    commands.add_parser("down", help="stop everything `up` started")
    for name, words in (
        ("restart", "SIGTERM a node, start it again, wait until ready"),
        ("kill", "SIGKILL a node"),
        ("start", "start a killed node again, wait until ready"),
    ):
        command = commands.add_parser(name, help=words)
        command.add_argument("node", type=int)
    arguments = parser.parse_args()
    try:
        return run(arguments)
    except (ClusterError, FileNotFoundError) as error:
        print(f"cluster {arguments.command}: {error}", file=sys.stderr)
        return 1


def run(arguments: argparse.Namespace) -> int:
    if arguments.command == "up":
        state = cluster.up(
            node_count=arguments.nodes,
            public_port=arguments.port,
            public_host=arguments.host,
            database_url=arguments.database_url,
            cache_url=arguments.cache_url,
            sessions=arguments.sessions,
            say=print,
        )
        print(state.public_url)
    elif arguments.command == "down":
        stopped = cluster.down()
        print("stopped: " + (", ".join(stopped) or "nothing was running"))
    else:
        state = ClusterState.load()
        if arguments.command == "share":
            print("\n".join(cluster.share_lines(state)))
            return 0
        if arguments.command == "restart":
            cluster.restart_node(state, arguments.node)
        elif arguments.command == "kill":
            cluster.kill_node(state, arguments.node)
        elif arguments.command == "start":
            cluster.start_node(state, arguments.node)
        print("\n".join(cluster.status_lines(state)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What `up` started, recorded for the commands that come after it.

`state.json` in the state directory (.cache/cluster/ by default) holds the
public URL, each node's index, port, pid and log, HAProxy's pid and the
environment every node gets on top of the process's own, so `status`,
`restart`, `kill`, `start` and `down` of a later scripts/cluster.py find
the cluster `up` left running. Written with mode 600: the database URL may
hold a password.
"""

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from deploy import balancer
from deploy.nodes import ROOT

STATE_DIR = ROOT / ".cache" / "cluster"


class ClusterError(Exception):
    """A cluster that cannot be started or found; the message says why."""


@dataclass
class Node:
    index: int  # 1-based; HAProxy's server node<index>
    port: int
    pid: int
    log: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def server(self) -> str:
        return f"node{self.index}"


@dataclass
class ClusterState:
    public_url: str
    public_host: str
    public_port: int
    stats_port: int
    state_dir: str
    node_env: dict[str, str]  # what every node gets on top of os.environ
    nodes: list[Node] = field(default_factory=list)
    haproxy_pid: int = 0

    @property
    def socket_path(self) -> Path:
        return Path(self.state_dir) / "haproxy.sock"

    @property
    def addresses(self) -> balancer.BalancerAddresses:
        return balancer.BalancerAddresses(
            self.public_host, self.public_port, self.stats_port, self.socket_path
        )

    def node(self, index: int) -> Node:
        for node in self.nodes:
            if node.index == index:
                return node
        raise ClusterError(f"no node {index} (nodes 1-{len(self.nodes)})")

    def env(self) -> dict[str, str]:
        return {**os.environ, **self.node_env}

    def save(self) -> None:
        path = Path(self.state_dir) / "state.json"
        path.write_text(json.dumps(asdict(self), indent=2))
        path.chmod(0o600)  # the database URL may hold a password

    @classmethod
    def load(cls, state_dir: Path = STATE_DIR) -> "ClusterState":
        path = Path(state_dir) / "state.json"
        if not path.exists():
            raise ClusterError(f"no cluster recorded in {state_dir} (run `up`)")
        data = json.loads(path.read_text())
        data["nodes"] = [Node(**node) for node in data["nodes"]]
        return cls(**data)

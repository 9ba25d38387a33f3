"""HAProxy with deploy/haproxy.cfg, and its runtime API.

The configuration is the repository's file, unchanged; what differs from
one cluster to another comes from the environment HAProxy expands
(`MCP_PUBLIC_BIND`, `MCP_PUBLIC_HOST`, `HAPROXY_STATS_SOCKET`,
`HAPROXY_STATS_BIND`) and from the runtime API, through which each node
slot (`server-template node 1-16`) gets its node's address and is enabled.
"""

import csv
import io
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from deploy.nodes import ROOT, spawn

CONFIG = ROOT / "deploy" / "haproxy.cfg"
BACKEND = "mcp_nodes"
SLOTS = 16
"""Node slots in haproxy.cfg's `server-template node 1-16`."""


def haproxy_binary() -> str:
    """The haproxy executable; FileNotFoundError says how to install it."""
    found = shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None
    )
    if found is None:
        raise FileNotFoundError(
            "haproxy is not installed: `make haproxy` (or apt-get install haproxy)"
        )
    return found


@dataclass(frozen=True)
class BalancerAddresses:
    """Where HAProxy listens: the public frontend, its stats and its socket."""

    public_host: str
    public_port: int
    stats_port: int
    socket_path: Path

    def environment(self) -> dict[str, str]:
        """The variables deploy/haproxy.cfg expands."""
        return {
            "MCP_PUBLIC_BIND": f"{self.public_host}:{self.public_port}",
            "MCP_PUBLIC_HOST": self.public_host,
            "HAPROXY_STATS_SOCKET": str(self.socket_path),
            "HAPROXY_STATS_BIND": f"127.0.0.1:{self.stats_port}",
        }


def check_config(addresses: BalancerAddresses) -> None:
    """`haproxy -c` on the configuration; RuntimeError with its words if bad."""
    result = subprocess.run(
        [haproxy_binary(), "-c", "-f", str(CONFIG)],
        env={**os.environ, **addresses.environment()},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"haproxy -c failed:\n{result.stdout}{result.stderr}")


def start(addresses: BalancerAddresses, log_path: Path) -> int:
    """Start HAProxy in the foreground, in its own process group; its pid."""
    return spawn(
        [haproxy_binary(), "-db", "-f", str(CONFIG)],
        {**os.environ, **addresses.environment()},
        log_path,
    )


def command(socket_path: Path, line: str, *, timeout: float = 5.0) -> str:
    """Send one runtime API command; HAProxy's answer (it closes after it)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(socket_path))
        sock.sendall(line.encode() + b"\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def wait_socket(socket_path: Path, pid_alive: Callable[[], bool], bound: float) -> None:
    """Wait until the runtime API answers; RuntimeError past `bound` s."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        try:
            command(socket_path, "show info", timeout=1.0)
            return
        except OSError:
            if not pid_alive():
                raise RuntimeError("haproxy exited at start") from None
            time.sleep(0.1)
    raise RuntimeError(f"haproxy's runtime API did not answer in {bound:g} s")


def enable_slot(socket_path: Path, slot: int, host: str, port: int) -> None:
    """Point node slot `slot` at host:port and put it in service (checked)."""
    server = f"{BACKEND}/node{slot}"
    for line in (
        f"set server {server} addr {host} port {port}",
        f"set server {server} state ready",
    ):
        answer = command(socket_path, line).strip()
        # Both answer nothing, or a sentence on success ("IP changed from
        # ...", "no need to change ..."); a refusal names what it refused.
        if any(word in answer for word in ("Unknown", "Require", "failed")):
            raise RuntimeError(f"haproxy refused {line!r}: {answer}")


@dataclass(frozen=True)
class ServerStats:
    """One node slot as HAProxy sees it (`show stat`)."""

    name: str
    status: str  # UP, DOWN, MAINT, "UP 1/2" (going down), ...
    sessions_total: int  # requests it was sent (stot)
    current: int  # connections open now (scur)
    http_5xx: int  # 5xx answers it gave (hrsp_5xx)


def server_stats(socket_path: Path) -> dict[str, ServerStats]:
    """Every node slot's stats, by server name (node1, node2, ...)."""
    text = command(socket_path, "show stat").lstrip("# ")
    found = {}
    for row in csv.DictReader(io.StringIO(text)):
        if row.get("pxname") != BACKEND or row["svname"] in ("BACKEND", "FRONTEND"):
            continue
        found[row["svname"]] = ServerStats(
            name=row["svname"],
            status=row["status"],
            sessions_total=int(row["stot"] or 0),
            current=int(row["scur"] or 0),
            http_5xx=int(row["hrsp_5xx"] or 0),
        )
    return found

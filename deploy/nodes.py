"""Single-worker uvicorn nodes, each in a process group of its own.

A node is `uvicorn config.asgi:application` on one port with one worker:
HAProxy spreads connections across nodes evenly, where uvicorn's
`--workers N` on one socket leaves it to the kernel (~90/10 measured).
Each node is the leader of its own process group (`start_new_session`), so
stopping it reaches whatever it started and nothing else, and a node
outlives the command that started it (`scripts/cluster.py up` exits).
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx2

ROOT = Path(__file__).resolve().parent.parent

GRACEFUL_TIMEOUT_SECONDS = 30
"""uvicorn's --timeout-graceful-shutdown: requests in flight at the stop."""


def uvicorn_command(
    port: int,
    *,
    workers: int = 1,
    log_level: str = "warning",
    options: Sequence[str] = (),
) -> list[str]:
    """`uvicorn config.asgi:application` on 127.0.0.1:`port`, run by this
    Python: every server this repository starts (nodes, test servers,
    benchmark targets) is started with it. `options` are more uvicorn
    flags."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "config.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        *options,
        "--log-level",
        log_level,
    ]


def node_command(port: int) -> list[str]:
    """The uvicorn command line of a node on 127.0.0.1:`port`."""
    return uvicorn_command(
        port,
        options=(
            # X-Forwarded-For/-Proto are believed from HAProxy on this machine
            # only (deploy/haproxy.cfg sets them, having dropped the client's).
            "--forwarded-allow-ips",
            "127.0.0.1",
            "--timeout-graceful-shutdown",
            str(GRACEFUL_TIMEOUT_SECONDS),
        ),
    )


def spawn(command: list[str], env: dict[str, str], log_path: Path) -> int:
    """Start `command` as the leader of a new process group; its pid.

    Its output goes to `log_path` (appended). The process is not waited
    for: `reap` collects it once it has exited.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return process.pid


def reap(pid: int) -> None:
    """Collect `pid` if it is an exited child of this process (no zombie)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def alive(pid: int) -> bool:
    """Whether `pid` runs (an exited child is reaped first; zombies are dead)."""
    reap(pid)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # The state follows the parenthesised command name, which may hold
    # spaces: "pid (name) S ...".
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def signal_group(pid: int, signum: int) -> bool:
    """Send `signum` to the process group led by `pid`; False if it is gone."""
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        return False
    return True


def wait_exit(pid: int, bound: float) -> bool:
    """Wait at most `bound` seconds for `pid` to end; True if it did."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return not alive(pid)


def stop(pid: int, *, bound: float) -> None:
    """SIGTERM the group of `pid`; SIGKILL it if `pid` outlives `bound` s.

    A node's SIGTERM drains (config/shutdown.py): /readyz goes 503 at once,
    it serves MCP_SHUTDOWN_DRAIN_SECONDS more, finishes its requests in
    flight and its audit writer's queue, then exits.
    """
    if not signal_group(pid, signal.SIGTERM):
        reap(pid)
        return
    if not wait_exit(pid, bound):
        signal_group(pid, signal.SIGKILL)
        wait_exit(pid, 5)
    # What the leader left behind in its group (nothing, normally).
    signal_group(pid, signal.SIGKILL)


def kill(pid: int) -> None:
    """SIGKILL the group of `pid` at once: nothing drains or cleans up."""
    signal_group(pid, signal.SIGKILL)
    wait_exit(pid, 5)


def readyz(url: str, *, timeout: float = 2.0) -> int | None:
    """The status of `url`/readyz, or None without an answer."""
    try:
        return httpx2.get(f"{url}/readyz", timeout=timeout).status_code
    except httpx2.HTTPError:
        return None

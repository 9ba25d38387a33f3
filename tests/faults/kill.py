"""A live server SIGKILLed under load, restarted, and its audit log checked.

`kill_under_load` runs closed-loop `tools/call` load (tests/faults/load.py),
SIGKILLs every process of the server mid-load (uvicorn's supervisor and
its workers: nothing gets to drain or clean up), restarts it on the same
database and port, and reports whether every call the client saw succeed
has its audit row (same request id, tool and arguments) and whether
`manage.py audit_verify` passes. Used by tests/faults/test_kill_live.py
and scripts/fault_kill.py.
"""

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.faults.load import audited_calls, run_load, unaudited_successes
from tests.live_server import ROOT, LiveServer, wait_until_ready


@dataclass(frozen=True)
class KillReport:
    calls: int
    ok: int
    no_answer: int  # calls cut off by the kill
    other_errors: list[str]
    audited: int  # tool_called rows of this run
    unaudited: list[str]  # successes without their row: must be empty
    killed_pids: list[int]
    ok_after_restart: int
    calls_after_restart: int
    verify_ok: bool
    verify_tail: str

    def lines(self) -> list[str]:
        return [
            f"SIGKILL of {len(self.killed_pids)} processes under load: "
            f"{self.calls} calls, {self.ok} ok, {self.no_answer} cut off, "
            f"{len(self.other_errors)} other errors {self.other_errors[:3]}",
            f"  audit rows {self.audited} (ok calls {self.ok}; the rest were "
            f"committed but their answer was lost), successes without their "
            f"row: {len(self.unaudited)}",
            f"  after restart: {self.ok_after_restart}/{self.calls_after_restart}"
            f" calls ok; audit_verify: {'OK' if self.verify_ok else 'FAILED'} "
            f"({self.verify_tail})",
        ]


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (from /proc), children before grandchildren."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = (task / "children").read_text().split()
        for child in map(int, children):
            found += [child, *descendants(child)]
    return found


def kill_server(server: LiveServer) -> list[int]:
    """SIGKILL the server's process and all its descendants, workers first."""
    assert server.process is not None
    pids = [*descendants(server.process.pid), server.process.pid]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    server.process.wait(10)
    return pids


def restart_server(server: LiveServer) -> None:
    """Start the server again with its command and environment."""
    log = server.log_path.open("a")
    server.process = subprocess.Popen(
        server.command, cwd=ROOT, env=server.env, stdout=log, stderr=subprocess.STDOUT
    )
    wait_until_ready(server, server.process)


def kill_under_load(
    server: LiveServer,
    tokens: dict[str, str],
    *,
    seconds_before_kill: float,
    concurrency: int,
    prefix: str,
) -> KillReport:
    """Load, SIGKILL mid-load, restart; match the audit log (see the module)."""
    start = time.monotonic()
    killed: list[int] = []

    async def conduct() -> list:
        load = asyncio.create_task(
            run_load(
                server.mcp_url,
                tokens,
                concurrency=concurrency,
                stop=lambda: bool(killed) or time.monotonic() - start > 120,
                prefix=prefix,
                call_timeout=10,
            )
        )
        await asyncio.sleep(seconds_before_kill)
        killed.extend(await asyncio.to_thread(kill_server, server))
        return await load

    calls = asyncio.run(conduct())
    restart_server(server)
    again = asyncio.run(_a_few_calls(server, tokens, f"{prefix}after-"))
    audited = audited_calls(server, prefix)
    verify = server.run("manage.py", "audit_verify", timeout=300)
    tail = (verify.stdout.strip().splitlines() or [verify.stderr.strip()])[-1]
    return KillReport(
        calls=len(calls),
        ok=sum(c.ok for c in calls),
        no_answer=sum(c.status is None for c in calls),
        other_errors=[
            f"{c.status}: {c.detail}" for c in calls if not c.ok and c.status
        ],
        audited=sum(1 for rid in audited if not rid.startswith(f"{prefix}after-")),
        unaudited=unaudited_successes(calls, audited),
        killed_pids=killed,
        ok_after_restart=sum(c.ok for c in again),
        calls_after_restart=len(again),
        verify_ok=verify.returncode == 0,
        verify_tail=tail[:200],
    )


async def _a_few_calls(server: LiveServer, tokens: dict[str, str], prefix: str) -> list:
    calls = 0

    def stop() -> bool:
        nonlocal calls
        calls += 1
        return calls > 20

    return await run_load(
        server.mcp_url, tokens, concurrency=1, stop=stop, prefix=prefix
    )

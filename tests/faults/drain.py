"""A live server sent SIGTERM under load, and what the client and /readyz saw.

`sigterm_under_load` runs closed-loop `tools/call` load (tests/faults/
load.py) and a /readyz prober against a live server, sends SIGTERM to its
uvicorn process mid-load, and waits for the process to exit. A load loop
ends at its first call without an answer after the signal (the server
stopped accepting), so nothing spins against a closed port. Used by
tests/faults/test_health_live.py.
"""

import asyncio
import contextlib
import itertools
import os
import signal
import subprocess
import time
from dataclasses import dataclass

import httpx2

from tests.faults.load import HEADERS, Call, call_tool, plan_calls
from tests.live_server import LiveServer


@dataclass(frozen=True)
class Probe:
    at: float  # seconds after the signal (negative: before it)
    status: int | None  # None: no answer (connection refused, reset)
    shutting_down: bool  # the `shutting_down` check failed


@dataclass(frozen=True)
class DrainReport:
    calls: list[Call]
    signalled_at: float  # time.monotonic()
    probes: list[Probe]
    exit_code: int | None  # None: still running at the bound
    exit_seconds: float  # from the signal to the exit

    def ok_after_signal(self) -> int:
        return sum(c.ok for c in self.calls if c.started >= self.signalled_at)

    def other_errors(self) -> list[str]:
        """Answers that are neither a success nor no answer at all."""
        return [
            f"{c.status}: {c.detail}"
            for c in self.calls
            if not c.ok and c.status is not None
        ]

    def lines(self) -> list[str]:
        answered = [p for p in self.probes if p.at >= 0 and p.status is not None]
        return [
            f"SIGTERM under load: {len(self.calls)} calls, "
            f"{sum(c.ok for c in self.calls)} ok ({self.ok_after_signal()} "
            f"started after the signal), "
            f"{sum(c.status is None for c in self.calls)} without an answer, "
            f"other errors {self.other_errors()[:3]}",
            f"  /readyz after the signal: "
            f"{[(round(p.at, 1), p.status) for p in answered][:12]}",
            f"  exit code {self.exit_code} after {self.exit_seconds:.1f} s",
        ]


def sigterm_under_load(
    server: LiveServer,
    tokens: dict[str, str],
    *,
    seconds_before: float,
    concurrency: int,
    prefix: str,
    exit_bound: float,
) -> DrainReport:
    """Load, SIGTERM to the server's process, wait for it to exit (`exit_bound`)."""
    assert server.process is not None
    process = server.process
    signalled = asyncio.Event()
    marks: dict[str, float] = {}

    async def load(client: httpx2.AsyncClient) -> list[Call]:
        plan = plan_calls(tokens)
        counter = itertools.count()
        calls: list[Call] = []

        async def loop() -> None:
            while True:
                n = next(counter)
                tenant, tool, arguments = plan[n % len(plan)]
                call = await call_tool(
                    client,
                    server.mcp_url,
                    tokens[tenant],
                    f"{prefix}{n}",
                    tool,
                    arguments,
                )
                calls.append(call)
                if signalled.is_set() and (
                    call.status is None
                    or time.monotonic() > marks["signal"] + exit_bound
                ):
                    return

        await asyncio.gather(*(loop() for _ in range(concurrency)))
        return calls

    async def probe() -> list[Probe]:
        probes: list[Probe] = []
        async with httpx2.AsyncClient(timeout=10) as client:
            while process.poll() is None:
                started = time.monotonic()
                status, stopping = await _ask_readyz(client, server.url)
                at = started - marks.get("signal", float("inf"))
                probes.append(Probe(at, status, stopping))
                await asyncio.sleep(0.1)
        return probes

    async def conduct() -> tuple[list[Call], list[Probe]]:
        limits = httpx2.Limits(max_connections=concurrency)
        async with httpx2.AsyncClient(
            headers=HEADERS, timeout=60, limits=limits
        ) as client:
            loading = asyncio.create_task(load(client))
            probing = asyncio.create_task(probe())
            await asyncio.sleep(seconds_before)
            marks["signal"] = time.monotonic()
            os.kill(process.pid, signal.SIGTERM)
            signalled.set()
            calls = await loading
            deadline = marks["signal"] + exit_bound
            with contextlib.suppress(subprocess.TimeoutExpired):
                remaining = max(0.0, deadline - time.monotonic())
                await asyncio.to_thread(process.wait, remaining)
            marks["exit"] = time.monotonic()
            if process.poll() is None:  # past the bound: the test fails
                probing.cancel()
                return calls, []
            return calls, await probing

    calls, probes = asyncio.run(conduct())
    return DrainReport(
        calls=calls,
        signalled_at=marks["signal"],
        probes=probes,
        exit_code=process.poll(),
        exit_seconds=marks["exit"] - marks["signal"],
    )


async def _ask_readyz(client: httpx2.AsyncClient, url: str) -> tuple[int | None, bool]:
    """(status or None without an answer, whether `shutting_down` failed)."""
    try:
        reply = await client.get(f"{url}/readyz")
        check = reply.json()["checks"].get("shutting_down", {})
    except Exception:  # refused or reset: the server stopped
        return None, False
    return reply.status_code, check.get("ok") is False

"""A database fault staged under load, and what the client saw of it.

`stage_fault` runs closed-loop `tools/call` load (tests/faults/load.py)
against a live server whose database sits behind a PgProxy, switches the
proxy to a fault for a while, back to FORWARD, and keeps the load going;
then it matches every successful call against the audit log. The fault
tests assert on the `FaultReport` with generous bounds (a loaded 2-core
machine); scripts/fault_db.py prints its exact figures.
"""

import asyncio
import time
from collections import Counter
from dataclasses import dataclass

from tests.faults.load import Call, audited_calls, run_load, unaudited_successes
from tests.faults.pgproxy import Mode, PgProxy
from tests.live_server import LiveServer


@dataclass(frozen=True)
class FaultReport:
    mode: str
    fault_seconds: float
    calls: int
    ok: int
    statuses_during: dict[str, int]  # calls answered while the fault lasted
    slowest_during: float  # seconds, of any call started during the fault
    slowest_503: float  # seconds until a 503 answered
    other_errors: list[str]  # answers that are neither success nor 503
    first_ok_after: float | None  # seconds from the heal to a success
    last_failure_after: float | None  # start of the last failed call, after
    unaudited: list[str]  # successes without their audit row

    def lines(self) -> list[str]:
        def fmt(value: float | None) -> str:
            return "-" if value is None else f"{value:.2f} s"

        return [
            f"mode {self.mode}, fault {self.fault_seconds:.0f} s: {self.calls} "
            f"calls, {self.ok} ok",
            f"  answers during the fault: {self.statuses_during}",
            f"  slowest call started during the fault: {fmt(self.slowest_during)}"
            f"; slowest 503: {fmt(self.slowest_503)}",
            f"  after the database returned: first success "
            f"{fmt(self.first_ok_after)}, last failure started "
            f"{fmt(self.last_failure_after)}",
            f"  other errors: {len(self.other_errors)} {self.other_errors[:3]}",
            f"  successes without their audit row: {len(self.unaudited)}",
        ]


def _label(call: Call) -> str:
    if call.ok:
        return "ok"
    return "no answer" if call.status is None else str(call.status)


def stage_fault(
    server: LiveServer,
    proxy: PgProxy,
    tokens: dict[str, str],
    *,
    mode: Mode,
    latency: float = 0.0,
    before: float,
    fault: float,
    after: float,
    concurrency: int,
    prefix: str,
) -> FaultReport:
    """Load for `before` s, the fault for `fault` s, load for `after` s more."""
    start = time.monotonic()
    marks: dict[str, float] = {}

    def stop() -> bool:
        return time.monotonic() - start > before + fault + after

    async def conduct() -> list[Call]:
        load = asyncio.create_task(
            run_load(
                server.mcp_url,
                tokens,
                concurrency=concurrency,
                stop=stop,
                prefix=prefix,
            )
        )
        await asyncio.sleep(before)
        marks["fault"] = time.monotonic()
        await asyncio.to_thread(proxy.set_mode, mode, latency=latency)
        await asyncio.sleep(fault)
        await asyncio.to_thread(proxy.set_mode, Mode.FORWARD)
        marks["heal"] = time.monotonic()
        return await load

    calls = asyncio.run(conduct())
    fault_at, heal_at = marks["fault"], marks["heal"]
    during = [c for c in calls if fault_at <= c.started < heal_at]
    after_heal = [c for c in calls if c.started >= heal_at]
    first_ok = min((c.started for c in after_heal if c.ok), default=None)
    last_bad = max((c.started for c in after_heal if not c.ok), default=None)
    return FaultReport(
        mode=mode.value if not latency else f"{mode.value} +{latency:.1f} s",
        fault_seconds=fault,
        calls=len(calls),
        ok=sum(c.ok for c in calls),
        statuses_during=dict(Counter(_label(c) for c in during)),
        slowest_during=max((c.elapsed for c in during), default=0.0),
        slowest_503=max((c.elapsed for c in calls if c.status == 503), default=0.0),
        other_errors=[
            f"{c.status}: {c.detail}" for c in calls if not c.ok and c.status != 503
        ],
        first_ok_after=None if first_ok is None else first_ok - heal_at,
        last_failure_after=None if last_bad is None else last_bad - heal_at,
        unaudited=unaudited_successes(calls, audited_calls(server, prefix)),
    )

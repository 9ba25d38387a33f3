"""Load through HAProxy while nodes are killed or restarted, and the tally.

`load_while` runs closed-loop `tools/call` load (tests/faults/load.py:
several tenants and tools, both protocol generations) at the cluster's
public URL, runs `disrupt` (blocking cluster operations, on a thread)
once the load is under way, keeps loading a little after it, and returns
every call as the client saw it, with the node that answered it
(HAProxy's X-Served-By). `audit_tally` matches those calls against the
audit log and runs `audit_verify`.
"""

import asyncio
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from deploy.state import ClusterState
from tests.cluster.conftest import as_live_server
from tests.faults.load import (
    LEGACY,
    MODERN,
    Call,
    audited_calls,
    run_load,
    unaudited_successes,
)


def load_while(
    state: ClusterState,
    tokens: dict[str, str],
    disrupt: Callable[[], None],
    *,
    prefix: str,
    before: float = 2.0,
    after: float = 1.5,
    concurrency: int = 8,
) -> list[Call]:
    """Load for `before` s, then during `disrupt()`, then `after` s more."""

    async def conduct() -> list[Call]:
        done = asyncio.Event()
        load = asyncio.create_task(
            run_load(
                f"{state.public_url}/mcp",
                tokens,
                concurrency=concurrency,
                stop=done.is_set,
                prefix=prefix,
                call_timeout=30,
                versions=(LEGACY, MODERN),
            )
        )
        try:
            await asyncio.sleep(before)
            await asyncio.to_thread(disrupt)
            await asyncio.sleep(after)
        finally:
            done.set()
        return await load

    return asyncio.run(conduct())


@dataclass(frozen=True)
class AuditTally:
    unaudited: list[str]  # successes without their row: must be empty
    verify_ok: bool
    verify_tail: str


def audit_tally(state: ClusterState, calls: list[Call], prefix: str) -> AuditTally:
    """Every success's audit row (id, tool, arguments), and `audit_verify`."""
    server = as_live_server(state)
    audited = audited_calls(server, prefix)
    verify = server.run("manage.py", "audit_verify", timeout=300)
    tail = (verify.stdout.strip().splitlines() or [verify.stderr.strip()])[-1]
    return AuditTally(
        unaudited=unaudited_successes(calls, audited),
        verify_ok=verify.returncode == 0,
        verify_tail=tail[:300],
    )


def served_by_in_log(state: ClusterState) -> dict[str, str]:
    """request id -> the node HAProxy sent it to, from its log lines.

    deploy/haproxy.cfg logs a request's X-Request-Id (which the load
    sends) in braces after the node's name: this finds the node of a call
    that got no answer to carry X-Served-By.
    """
    log = (Path(state.state_dir) / "logs" / "haproxy.log").read_text()
    return {match["request_id"]: match["server"] for match in _LOG_LINE.finditer(log)}


_LOG_LINE = re.compile(r"mcp_nodes/(?P<server>\S+) .*?\{(?P<request_id>[^}|]+)\}")


def summary(calls: list[Call], marks: dict[str, float]) -> str:
    """What the client saw, per node and outcome, for assertion messages."""
    start = min((c.started for c in calls), default=0.0)
    outcomes = Counter(
        (c.served_by or "-", c.version, "ok" if c.ok else str(c.status)) for c in calls
    )
    failures = [
        f"{c.request_id} {c.served_by or '-'} {c.status} "
        f"{c.started - start:.2f}-{c.finished - start:.2f} {c.detail[:80]}"
        for c in calls
        if not c.ok
    ]
    timeline = {name: round(at - start, 2) for name, at in marks.items()}
    return f"{len(calls)} calls {dict(outcomes)}\nmarks {timeline}\n" + "\n".join(
        failures[:20]
    )

"""/readyz and SIGTERM on a live server, on SQLite and PostgreSQL.

- every check is named, and all pass on a healthy server;
- a stalled audit writer makes /readyz 503 naming `audit_writer`, and it
  is ready again once the writer catches up. The stall: on PostgreSQL the
  server reaches its database through a proxy that black-holes it
  (tests/faults/pgproxy.py; the shared cluster is never touched); on
  SQLite another connection holds the write lock;
- SIGTERM under load: /readyz answers 503 `shutting_down` while the drain
  delay lasts and the server keeps answering calls; then it stops, every
  call the client saw succeed has its audit row, the chains verify, and
  the process exits in time: 0 from uvicorn's supervisor (2 workers),
  by the re-raised SIGTERM from a single uvicorn process (its design since
  0.29: the parent sees that the signal ended it, after the drain).

Generous bounds: a loaded 2-core machine must pass.
"""

import asyncio
import contextlib
import os
import signal
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
import pytest

from tests.faults.drain import sigterm_under_load
from tests.faults.load import audited_calls, mint_tokens, run_load, unaudited_successes
from tests.faults.pgproxy import Mode, PgProxy
from tests.live_server import LiveServer, run_live_server

POSTGRES = os.environ.get("DATABASE_URL", "").startswith(
    ("postgres://", "postgresql://")
)
SERVING_CHECKS = {
    "shutting_down",
    "database",
    "audit_writer",
    "revocation_feed",
    "quota_backend",
}
AUDIT_AGE_BOUND = 1.0
DRAIN = 3.0


def readyz(server: LiveServer) -> httpx2.Response:
    return httpx2.get(f"{server.url}/readyz", timeout=15)


@contextlib.contextmanager
def stall_point() -> Iterator[
    tuple[dict, Callable[[LiveServer], contextlib.AbstractContextManager]]
]:
    """(run_live_server kwargs, a factory of the stall) for this database."""
    if POSTGRES:
        proxy = PgProxy.in_front_of(os.environ["DATABASE_URL"])
        with proxy.running():

            @contextlib.contextmanager
            def stalled(server: LiveServer) -> Iterator[None]:
                proxy.set_mode(Mode.BLACKHOLE)
                try:
                    yield
                finally:
                    proxy.set_mode(Mode.FORWARD)

            yield {"database_port": proxy.port}, stalled
        return

    @contextlib.contextmanager
    def locked(server: LiveServer) -> Iterator[None]:
        path = urlsplit(server.env["DATABASE_URL"]).path
        holder = sqlite3.connect(path, timeout=30, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # the write lock: writers get busy
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()

    yield {}, locked


def test_readyz_names_every_check_of_a_serving_process(tmp_path: Path) -> None:
    with run_live_server(tmp_path, host="127.0.0.1") as server:
        ready = readyz(server)
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    assert set(checks) == SERVING_CHECKS
    assert all(check["ok"] for check in checks.values()), checks
    assert checks["revocation_feed"]["detail"].startswith("fresh")


def test_a_stalled_audit_writer_makes_readyz_503_naming_it(tmp_path: Path) -> None:
    prefix = f"stall-{uuid.uuid4().hex[:8]}-"
    with (
        stall_point() as (server_kwargs, stall),
        run_live_server(
            tmp_path,
            host="127.0.0.1",
            extra_env={
                "MCP_DB_TIMEOUT_SECONDS": "1.0",
                "MCP_READY_AUDIT_MAX_AGE_SECONDS": str(AUDIT_AGE_BOUND),
            },
            **server_kwargs,
        ) as server,
    ):
        tokens = mint_tokens(server)
        assert readyz(server).status_code == 200
        seen: list[httpx2.Response] = []
        waits: list[float] = []  # seconds /readyz took while stalled
        timings: dict[str, float] = {}

        async def conduct() -> list:
            done = asyncio.Event()
            load = asyncio.create_task(
                run_load(
                    server.mcp_url,
                    tokens,
                    concurrency=4,
                    stop=done.is_set,
                    prefix=prefix,
                )
            )
            await asyncio.sleep(1.0)
            with stall(server):
                started = time.monotonic()
                while time.monotonic() - started < 20:
                    asked = time.monotonic()
                    reply = await asyncio.to_thread(readyz, server)
                    waits.append(time.monotonic() - asked)
                    seen.append(reply)
                    if not reply.json()["checks"]["audit_writer"]["ok"]:
                        timings["not_ready"] = time.monotonic() - started
                        break
                    await asyncio.sleep(0.2)
            healed = time.monotonic()
            while time.monotonic() - healed < 30:
                reply = await asyncio.to_thread(readyz, server)
                if reply.status_code == 200:
                    timings["ready_again"] = time.monotonic() - healed
                    break
                await asyncio.sleep(0.2)
            done.set()
            return await load

        calls = asyncio.run(conduct())
        audited = audited_calls(server, prefix)

    summary = f"{timings} {waits} {[r.text[:400] for r in seen[-2:]]}"
    stalled = seen[-1]
    assert stalled.status_code == 503, summary
    check = stalled.json()["checks"]["audit_writer"]
    assert check["ok"] is False, summary
    assert check["detail"].startswith("stalled:"), summary
    assert timings["not_ready"] < AUDIT_AGE_BOUND + 8, summary
    # Never longer than the database bound (1 s), with a loaded machine's slack.
    assert max(waits) < 1.0 + 3.0, summary
    assert "ready_again" in timings, summary
    assert unaudited_successes(calls, audited) == []


@pytest.mark.parametrize(
    ("workers", "exit_code"),
    # One process: uvicorn re-raises the SIGTERM once it has shut down
    # gracefully, so the process ends by that signal (shell status 143).
    # Several: its supervisor waits for the workers, then exits 0.
    [(1, -signal.SIGTERM), (2, 0)],
    ids=["one-process", "two-workers"],
)
def test_sigterm_under_load_drains_then_exits_without_losing_an_audit_row(
    tmp_path: Path, workers: int, exit_code: int
) -> None:
    prefix = f"term-{uuid.uuid4().hex[:8]}-"
    with run_live_server(
        tmp_path,
        workers=workers,
        host="127.0.0.1",
        extra_env={"MCP_SHUTDOWN_DRAIN_SECONDS": str(DRAIN)},
    ) as server:
        report = sigterm_under_load(
            server,
            mint_tokens(server),
            seconds_before=2.0,
            concurrency=8,
            prefix=prefix,
            exit_bound=DRAIN + 30,
        )
        audited = audited_calls(server, prefix)
        verify = server.run("manage.py", "audit_verify", timeout=300)

    summary = "\n".join(report.lines())
    assert report.exit_code == exit_code, summary
    assert report.exit_seconds < DRAIN + 30, summary
    assert unaudited_successes(report.calls, audited) == [], summary
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert report.other_errors() == [], summary
    # Served while not ready: the balancer's time to take the node out.
    assert report.ok_after_signal() > 0, summary
    during = [p for p in report.probes if 0 <= p.at < DRAIN]
    assert any(p.status == 503 and p.shutting_down for p in during), summary
    late = [p for p in report.probes if p.at >= 1.0]
    assert all(p.status != 200 for p in late), summary

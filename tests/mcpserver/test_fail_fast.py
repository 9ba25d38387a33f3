"""A database that does not answer costs /mcp a bounded wait, then a 503.

Each test makes one piece of database work hang (a thread that sleeps
far past MCP_DB_TIMEOUT_SECONDS, as a black-holed connection does) and
checks that callers give up within the bound, that concurrent callers
share one wait instead of queueing for turns, and that the next call
after the database answers again succeeds. Bounds are generous: the
machine running the suite may be loaded.
"""

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

import pytest
from django.test import override_settings

from audit import writer
from mcpserver import policy, revocations
from mcpserver.db import DatabaseUnavailable, run_db
from tests.live_server import ROOT
from tests.mcpserver.conftest import Demo, call_params, post_rpc, running_app

pytestmark = pytest.mark.django_db(transaction=True)

BOUND = 0.5
SLACK = 2.0  # scheduling on a loaded machine; a hang would take HANG


@pytest.fixture
def bound() -> Iterator[None]:
    with override_settings(MCP_DB_TIMEOUT_SECONDS=BOUND):
        yield


class Hang:
    """A stand-in for a query that hangs until released (or HANG seconds)."""

    HANG = 30.0

    def __init__(self) -> None:
        self.calls = 0
        self._released = threading.Event()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        self._released.wait(self.HANG)
        raise RuntimeError("released")

    def release(self) -> None:
        self._released.set()


@pytest.fixture
def hang() -> Iterator[Hang]:
    stuck = Hang()
    yield stuck
    stuck.release()


async def test_run_db_gives_up_after_the_bound(bound: None, hang: Hang) -> None:
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable):
        await run_db(hang)
    assert time.monotonic() - started < BOUND + SLACK


async def test_a_hung_poll_is_shared_not_queued_and_recovery_is_immediate(
    bound: None, hang: Hang, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten requests on a stale feed wait for one poll, not ten in turn."""
    real_load = revocations.load_poll
    monkeypatch.setattr(revocations, "load_poll", hang)
    started = time.monotonic()

    outcomes = await asyncio.gather(
        *(revocations.ensure_fresh() for _ in range(10)), return_exceptions=True
    )

    assert all(isinstance(o, revocations.FeedUnavailable) for o in outcomes)
    assert time.monotonic() - started < BOUND + SLACK
    assert hang.calls == 1
    monkeypatch.setattr(revocations, "load_poll", real_load)
    await revocations.ensure_fresh()  # no back-off after a failure
    assert revocations.FEED.age() < 1.0


async def test_concurrent_policy_misses_share_one_bounded_read(
    bound: None, hang: Hang, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(policy, "get_tool_policy", hang)
    started = time.monotonic()

    outcomes = await asyncio.gather(
        *(policy.aget_tool_policy(1) for _ in range(10)), return_exceptions=True
    )

    assert all(isinstance(o, DatabaseUnavailable) for o in outcomes)
    assert time.monotonic() - started < BOUND + SLACK
    assert hang.calls == 1


async def test_a_stale_feed_on_a_hung_database_is_a_503_with_the_id(
    demo: Demo, bound: None, hang: Hang, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await demo.atoken("carol")
    async with running_app():
        monkeypatch.setattr(revocations, "load_poll", hang)
        revocations.FEED.fresh_at = time.monotonic() - 5  # the feed went stale
        started = time.monotonic()
        reply = await post_rpc(
            token, "tools/call", call_params("echo", message="m"), request_id="r-9"
        )
        waited = time.monotonic() - started

    assert reply.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert reply.headers["retry-after"] == "1"
    assert reply.json()["id"] == "r-9"
    assert reply.json()["error"]["code"] == -32603
    assert waited < BOUND + SLACK


async def test_a_result_whose_audit_row_is_late_is_withheld_with_a_503(
    demo: Demo, bound: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No result leaves without its committed audit row; the client may retry."""
    token = await demo.atoken("carol")

    async def never_durable(fields: Any) -> None:
        await asyncio.sleep(Hang.HANG)

    async with running_app():
        monkeypatch.setattr(writer, "write", never_durable)
        started = time.monotonic()
        reply = await post_rpc(
            token, "tools/call", call_params("echo", message="secret"), request_id=7
        )
        waited = time.monotonic() - started

    assert reply.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert reply.json()["id"] == 7
    assert "result" not in reply.json()
    assert "secret" not in reply.text
    assert waited < BOUND + SLACK


async def test_a_hung_tool_query_is_a_503(
    demo: Demo, bound: None, hang: Hang, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tenants import selectors

    token = await demo.atoken("carol")
    async with running_app():
        monkeypatch.setattr(selectors, "search_documents", hang)
        reply = await post_rpc(
            token, "tools/call", call_params("search_documents", query="q")
        )

    assert reply.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert reply.headers["retry-after"] == "1"
    assert "result" not in reply.json()


async def test_waits_each_under_the_bound_share_one_deadline(
    demo: Demo, bound: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow policy read and a slow audit commit: one 503, not a late answer."""
    token = await demo.atoken("carol")
    read_policy, write = policy.get_tool_policy, writer.write

    def slow_policy(**kwargs: Any) -> Any:
        time.sleep(BOUND * 0.7)
        return read_policy(**kwargs)

    async def slow_write(fields: Any) -> Any:
        await asyncio.sleep(BOUND * 0.7)
        return await write(fields)

    async with running_app():
        monkeypatch.setattr(policy, "get_tool_policy", slow_policy)
        monkeypatch.setattr(writer, "write", slow_write)
        reply = await post_rpc(token, "tools/call", call_params("echo", message="m"))

    assert reply.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert reply.headers["retry-after"] == "1"
    assert "result" not in reply.json()


def test_postgresql_connects_and_pool_waits_follow_the_bound() -> None:
    """No psycopg back-off: the first wait after an outage reconnects."""
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, django; django.setup(); from django.conf import settings;"
            "print(json.dumps(settings.DATABASES['default']['OPTIONS']))",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": "postgres://nobody@127.0.0.1:9/none",
            "MCP_DB_TIMEOUT_SECONDS": "3.5",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    options = json.loads(shown.stdout.splitlines()[-1])

    assert options["connect_timeout"] == 4  # whole seconds, libpq's minimum 2
    assert options["pool"]["timeout"] <= 3.5
    assert options["pool"]["reconnect_timeout"] == 0

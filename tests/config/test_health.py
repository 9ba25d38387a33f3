"""/healthz and /readyz of a combined server (resource-server mode: tests/split).

Served by Django's test client, without the MCP app's lifespan: the checks
of a process serving /mcp (revocation feed, quota backend) apply only
while it runs, and are tested live (tests/faults/test_health_live.py).
"""

import asyncio
import logging
import threading
import time

import pytest
from django.test import Client

from audit.writer_backlog import Backlog
from config import probe_logging, readiness, shutdown
from mcpserver.quotas import QuotaStatus


@pytest.fixture(autouse=True)
def _not_shutting_down() -> None:
    """A lifespan run by an earlier test ended in a shutdown."""
    shutdown.reset()


@pytest.mark.django_db
def test_healthz_answers_and_readyz_names_each_check() -> None:
    assert Client().get("/healthz").json() == {"status": "ok"}
    ready = Client().get("/readyz")
    assert ready.status_code == 200
    checks = ready.json()["checks"]
    assert ready.json()["status"] == "ready"
    assert set(checks) == {"shutting_down", "database", "audit_writer"}
    assert checks["database"] == {"ok": True, "detail": "reachable"}
    assert checks["shutting_down"] == {"ok": True, "detail": "no"}
    assert checks["audit_writer"]["ok"] is True
    assert checks["audit_writer"]["detail"].startswith("0 event(s) queued")
    assert "no-cache" in ready["Cache-Control"]


@pytest.mark.django_db
def test_a_failing_check_makes_readyz_503_and_says_why() -> None:
    def broken() -> readiness.CheckResult:
        raise RuntimeError("boom")

    readiness.register("broken", broken)
    try:
        ready = Client().get("/readyz")
    finally:
        readiness.unregister("broken")
    assert ready.status_code == 503
    assert ready.json()["status"] == "not ready"
    assert ready.json()["checks"]["broken"] == {
        "ok": False,
        "detail": "check failed: RuntimeError('boom')",
    }


@pytest.mark.django_db
def test_a_shutdown_makes_readyz_503_naming_shutting_down() -> None:
    assert shutdown.begin("SIGTERM received")
    try:
        assert not shutdown.begin("again")
        ready = Client().get("/readyz")
    finally:
        shutdown.reset()
    assert ready.status_code == 503
    check = ready.json()["checks"]["shutting_down"]
    assert check["ok"] is False
    assert check["detail"].startswith("SIGTERM received")


def test_a_database_that_does_not_answer_fails_its_check_within_the_bound() -> None:
    release = threading.Event()
    try:
        started = time.monotonic()
        result = asyncio.run(readiness.probe(release.wait, 0.3))
        elapsed = time.monotonic() - started
        waiting = [
            asyncio.run(readiness.probe(release.wait, 0.1))
            for _ in range(readiness.PROBES_IN_FLIGHT - 1)
        ]
        started = time.monotonic()
        refused = asyncio.run(readiness.probe(release.wait, 5.0))
        refused_in = time.monotonic() - started
    finally:
        release.set()
    assert result == readiness.CheckResult(False, "no answer within 0.3 s")
    assert elapsed < 1.5
    assert all(not each.ok for each in waiting)
    assert refused == readiness.CheckResult(
        False,
        f"no answer: {readiness.PROBES_IN_FLIGHT} earlier probes still waiting",
    )
    assert refused_in < 0.5


def test_the_backlog_counts_settled_events_out_oldest_first() -> None:
    backlog = Backlog()
    assert backlog.snapshot().depth == 0
    assert backlog.snapshot().oldest_age == 0.0
    backlog.add()
    time.sleep(0.05)
    backlog.add()
    assert backlog.snapshot().depth == 2
    assert backlog.snapshot().oldest_age >= 0.05
    backlog.settle(1)
    assert backlog.snapshot().depth == 1
    assert backlog.snapshot().oldest_age < 0.05
    backlog.settle(5)
    assert backlog.snapshot().depth == 0


@pytest.mark.parametrize(
    ("status", "ok", "start"),
    [
        (None, False, "the MCP app is not running"),
        (QuotaStatus(store="redis", shared=True), True, "redis"),
        (QuotaStatus(store="local", shared=False), True, "local"),
        (
            QuotaStatus(store="local", shared=False, degraded=True, error="boom"),
            True,
            "degraded: Redis unreachable (boom)",
        ),
    ],
)
def test_the_quota_backend_fails_only_when_nothing_counts(
    status: QuotaStatus | None, ok: bool, start: str
) -> None:
    result = readiness.quota_backend(status)
    assert result.ok is ok
    assert result.detail.startswith(start)


def test_the_audit_writer_check_names_the_bound_it_crossed(settings) -> None:
    settings.MCP_READY_AUDIT_MAX_QUEUE = 1000
    settings.MCP_READY_AUDIT_MAX_AGE_SECONDS = 5.0
    assert readiness.audit_writer_check().ok
    settings.MCP_READY_AUDIT_MAX_QUEUE = -1
    result = readiness.audit_writer_check()
    assert not result.ok
    assert result.detail.startswith("falling behind: 0 event(s) queued")


def _console_handler() -> logging.Handler:
    """The handler settings.LOGGING names `console` (it carries the filters)."""
    [handler] = [h for h in logging.getLogger("django").handlers if h.filters]
    return handler


@pytest.mark.django_db
def test_a_not_ready_node_logs_once_per_change_not_once_per_probe(caplog) -> None:
    """HAProxy probes twice a second: a drain must not write an ERROR each time."""
    probe_logging.reset()
    caplog.set_level(logging.WARNING)
    assert shutdown.begin("SIGTERM received")
    try:
        answers = [Client().get("/readyz").status_code for _ in range(3)]
    finally:
        shutdown.reset()
    answers.append(Client().get("/readyz").status_code)
    assert answers == [503, 503, 503, 200]
    shown = [r for r in caplog.records if _console_handler().filter(r)]
    lines = [(r.name, r.levelname, r.getMessage()) for r in shown]
    assert [line[:2] for line in lines] == [("config.readiness", "WARNING")] * 2
    assert lines[0][2].startswith("not ready: shutting_down: SIGTERM received")
    assert lines[1][2] == "ready again"
    # Django still logged each 503; the console handler drops those lines.
    dropped = [r for r in caplog.records if r.name == "django.request"]
    assert len(dropped) == 3

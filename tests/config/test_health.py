"""/healthz and /readyz of a combined server (resource-server mode: tests/split)."""

import pytest
from django.test import Client

from config import readiness


@pytest.mark.django_db
def test_healthz_answers_and_readyz_names_the_database_check() -> None:
    assert Client().get("/healthz").json() == {"status": "ok"}
    ready = Client().get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "checks": {"database": {"ok": True, "detail": "reachable"}},
    }
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

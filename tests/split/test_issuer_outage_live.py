"""The issuer fails while a resource server keeps serving.

Live processes: the issuer is SIGKILLed (by the PIDs this test started)
while calls continue on the resource server, then restarted on the same
port and database; it is SIGSTOPped (hung: connections accepted, never
answered) while an unknown `kid` arrives; and a flood of tokens with
forged `kid`s is sent to the resource server while the issuer's access log
counts its JWKS fetches.
"""

import os
import signal
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import pytest

from tests.faults.kill import descendants, kill_server, restart_server
from tests.live_server import LiveServer
from tests.split.servers import (
    Credentials,
    call,
    mint,
    run_resource_server,
    with_kid,
)

UNREACHABLE_BOUND = 6.0
JWKS_FETCH = "GET /.well-known/jwks.json"


def _readyz(rs: LiveServer) -> httpx2.Response:
    return httpx2.get(f"{rs.url}/readyz", timeout=10)


@pytest.fixture
def rs(
    issuer: LiveServer, credentials: Credentials, tmp_path: Path
) -> Iterator[LiveServer]:
    with run_resource_server(
        issuer,
        credentials,
        tmp_path,
        MCP_ISSUER_UNREACHABLE_SECONDS=str(UNREACHABLE_BOUND),
    ) as server:
        yield server


def test_the_issuer_killed_then_restarted(
    issuer: LiveServer, credentials: Credentials, tmp_path: Path
) -> None:
    with run_resource_server(
        issuer,
        credentials,
        tmp_path,
        MCP_ISSUER_UNREACHABLE_SECONDS=str(UNREACHABLE_BOUND),
        # The JWKS goes stale 3 s after each fetch (the issuer says 60 s).
        MCP_JWKS_MAX_CACHE_SECONDS="3",
    ) as rs:
        _kill_and_restart(issuer, rs)


def _kill_and_restart(issuer: LiveServer, rs: LiveServer) -> None:
    seen = mint(issuer, rs.mcp_url)["token"]
    unseen_within_bound = mint(issuer, rs.mcp_url, username="alice")["token"]
    unseen_after_bound = mint(issuer, rs.mcp_url, username="bob")["token"]
    assert call(rs.mcp_url, seen).status_code == 200

    kill_server(issuer)
    killed_at = time.monotonic()
    # Cached keys keep verifying; the last good feed is used within the bound.
    assert call(rs.mcp_url, seen).status_code == 200
    assert call(rs.mcp_url, unseen_within_bound).status_code == 200
    forged = call(rs.mcp_url, with_kid(seen, "rotated-" + uuid.uuid4().hex))
    assert forged.status_code == 401
    assert forged.json()["error"] == "invalid_token"
    time.sleep(1.0)
    ready = _readyz(rs)
    assert ready.status_code == 200  # still serving, from what it has
    checks = ready.json()["checks"]
    assert checks["revocation_feed"]["detail"].startswith("stale")
    assert "last refetch failed" in checks["jwks"]["detail"]

    # Past the bound: tokens seen before keep working, new ones are refused.
    time.sleep(max(0.0, killed_at + UNREACHABLE_BOUND + 0.5 - time.monotonic()))
    assert call(rs.mcp_url, seen).status_code == 200
    refused = call(rs.mcp_url, unseen_after_bound)
    assert refused.status_code == 503
    assert "Retry-After" in refused.headers
    ready = _readyz(rs)
    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert "refusing tokens not seen before" in checks["revocation_feed"]["detail"]
    # Keys past their max-age are still used (and said to be stale).
    assert checks["jwks"]["ok"] is True
    assert checks["jwks"]["detail"].startswith("stale")

    restart_server(issuer)
    deadline = time.monotonic() + 5
    while call(rs.mcp_url, unseen_after_bound).status_code != 200:
        assert time.monotonic() < deadline, "the resource server never recovered"
        time.sleep(0.1)
    ready = _readyz(rs)
    assert ready.status_code == 200, ready.text
    assert rs.process is not None
    assert rs.process.poll() is None  # the resource server was never restarted


def test_a_forged_kid_flood_fetches_the_jwks_at_most_once_per_10_seconds(
    issuer: LiveServer, rs: LiveServer
) -> None:
    token = mint(issuer, rs.mcp_url)["token"]
    before = issuer.log().count(JWKS_FETCH)
    started = time.monotonic()
    duration = 12.0

    def flood(_: int) -> list[int]:
        statuses = []
        with httpx2.Client(timeout=10) as client:
            while time.monotonic() - started < duration:
                forged = with_kid(token, uuid.uuid4().hex)
                response = client.post(
                    rs.mcp_url,
                    json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                    headers={
                        "Authorization": f"Bearer {forged}",
                        "Accept": "application/json, text/event-stream",
                        "MCP-Protocol-Version": "2025-11-25",
                    },
                )
                statuses.append(response.status_code)
        return statuses

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = [status for batch in pool.map(flood, range(4)) for status in batch]
    elapsed = time.monotonic() - started
    time.sleep(0.5)  # the access log line of a fetch in flight
    fetches = issuer.log().count(JWKS_FETCH) - before
    assert set(statuses) == {401}
    assert len(statuses) > 100
    assert 1 <= fetches <= int(elapsed // 10) + 1, (fetches, len(statuses), elapsed)
    # The genuine token was never disturbed.
    assert call(rs.mcp_url, token).status_code == 200


def test_a_hung_issuer_costs_an_unknown_kid_a_401_not_a_timeout(
    issuer: LiveServer, rs: LiveServer
) -> None:
    """SIGSTOP: the issuer's socket accepts but nothing ever answers."""
    token = mint(issuer, rs.mcp_url)["token"]
    assert call(rs.mcp_url, token).status_code == 200
    assert issuer.process is not None
    pids = [*descendants(issuer.process.pid), issuer.process.pid]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        forged = call(rs.mcp_url, with_kid(token, uuid.uuid4().hex))
        waited = time.monotonic() - started
        assert forged.status_code == 401
        assert forged.json()["error_description"] == "unknown signing key"
        assert waited < 2.0
        assert call(rs.mcp_url, token).status_code == 200
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)

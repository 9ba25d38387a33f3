"""Sign-in protection and the /token limit across two real worker processes.

Two uvicorn workers share Redis as Django's cache (a key prefix of the
test's own in Redis database 9), and requests arrive over real HTTP on
fresh connections, so the kernel spreads them over both processes. Each
audit row names the process that wrote it (its chain is host:pid): the
failures' counts rise 1, 2, 3 ... across both chains, so neither process
counted alone, and the lockout one of them started holds at both.
"""

import json
import os
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.live_server import LiveServer, run_live_server

redis = pytest.importorskip("redis")

REDIS_URL = os.environ.get("SIGNIN_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
LIMIT = 12
WINDOW = 3600
TOKEN_LIMIT = 5

FAILED_ROWS = """
import json
import django
django.setup()
from audit.models import AuditEvent
rows = AuditEvent.objects.filter(event="login_failed").order_by("id")
print(json.dumps([
    {"chain": r.chain_id, "ip": r.source_ip, "reason": r.reason,
     "throttle": r.arguments.get("throttle")}
    for r in rows
]))
"""


def _wait_clear_of_window_end(window: int, margin: float = 15) -> None:
    """Counts restart with each clock-aligned window: keep the test in one."""
    left = window - time.time() % window
    if left < margin:
        time.sleep(left + 0.5)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    prefix = f"signin-live-{uuid.uuid4().hex}"
    client = redis.Redis.from_url(REDIS_URL)
    client.ping()  # Redis runs wherever these tests do: unreachable is a failure
    env = {
        "CACHE_URL": f"{REDIS_URL}?key_prefix={prefix}",
        "LOGIN_FAILURES_PER_USERNAME": str(LIMIT),
        "LOGIN_FAILURES_PER_ADDRESS": "1000",
        "LOGIN_FAILURE_WINDOW_SECONDS": str(WINDOW),
        "OAUTH_TOKEN_RATE_PER_ADDRESS": str(TOKEN_LIMIT),
    }
    try:
        with run_live_server(
            tmp_path_factory.mktemp("signin-live"),
            workers=2,
            host="127.0.0.1",
            extra_env=env,
        ) as live:
            yield live
    finally:
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)


def _sign_in(server: LiveServer, username: str, password: str) -> int:
    """One sign-in on fresh connections (any worker); the POST's status."""
    with requests.Session() as session:
        session.headers["Connection"] = "close"
        session.get(f"{server.url}/accounts/login/", timeout=30)
        answer = session.post(
            f"{server.url}/accounts/login/",
            data={
                "username": username,
                "password": password,
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
            },
            allow_redirects=False,
            timeout=30,
        )
        return answer.status_code


def _lock_out(server: LiveServer, username: str) -> list[dict]:
    """LIMIT failures then 8 right passwords for `username`; its audit rows."""
    with ThreadPoolExecutor(max_workers=6) as pool:
        failures = list(
            pool.map(lambda _: _sign_in(server, username, "wrong"), range(LIMIT))
        )
        assert failures == [200] * LIMIT
        refused = list(pool.map(lambda _: _sign_in(server, username, "demo"), range(8)))
    assert refused == [429] * 8  # the right password, at either worker
    rows = json.loads(server.python("-c", FAILED_ROWS).splitlines()[-1])
    return [row for row in rows if f"for {username!r}" in row["reason"]]


def test_two_workers_share_one_count_and_one_lockout(server: LiveServer) -> None:
    _wait_clear_of_window_end(WINDOW)
    # The kernel decides which worker accepts a connection; on a loaded
    # machine one of them may take a whole round. Each demo user is a round
    # of its own, until one round's failures were counted at both workers.
    for username in ("alice", "bob", "carol", "dave"):
        rows = _lock_out(server, username)
        counted = [row for row in rows if "username_failures" in row["throttle"]]
        # One count across both processes: 1..LIMIT, whichever counted each.
        assert sorted(r["throttle"]["username_failures"] for r in counted) == list(
            range(1, LIMIT + 1)
        )
        assert [r["throttle"].get("lockout_started") for r in counted].count(
            ["username"]
        ) == 1
        assert {row["ip"] for row in rows} == {"127.0.0.1"}
        refusals = [row for row in rows if "username_failures" not in row["throttle"]]
        assert 1 <= len(refusals) <= 2  # coalesced: one per worker's minute at most
        chains = {row["chain"] for row in counted}
        if len(chains) == 2:
            break
    assert len(chains) == 2, f"one worker took every sign-in of 4 rounds: {chains}"


def test_token_requests_share_one_budget_per_address(server: LiveServer) -> None:
    _wait_clear_of_window_end(60, margin=5)

    def token(_: int) -> requests.Response:
        return requests.post(
            f"{server.url}/token",
            data={"grant_type": "authorization_code", "code": "x", "client_id": "x"},
            headers={"Connection": "close"},
            timeout=30,
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(token, range(TOKEN_LIMIT + 4)))

    statuses = sorted(answer.status_code for answer in answers)
    assert statuses.count(429) == 4
    limited = next(answer for answer in answers if answer.status_code == 429)
    assert limited.json()["error"] == "too_many_requests"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60

"""Quotas against real servers (uvicorn, real HTTP, httpx2 clients).

Each server gets tenant-a's quota set in its database (as the admin would)
and tokens minted for three clients: alice and bob in tenant-a on two
different OAuth clients, carol in tenant-b. Rates are tiny (a token per
100 s) so no bucket refills while a test runs: every count is exact.
"""

import itertools
import json
import os
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import pytest
import redis

from tests.live_server import LiveServer, free_port, run_live_server

REDIS_URL = os.environ.get("MCP_TEST_REDIS_URL", "redis://127.0.0.1:6379/7")
"""A Redis database of the tests' own (keys are namespaced per server too)."""

SETUP = """
import json, sys
import django
django.setup()
from oauth2_provider.models import get_application_model
from accounts.models import User
from oauth.tokens import mint_access_token
from tenants.models import Tenant
rate, burst, share = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
Tenant.objects.filter(slug="tenant-a").update(
    quota_rate=rate, quota_burst=burst, quota_client_share=share
)
App = get_application_model()
tokens = {}
for username, client_id in [("alice", "c1"), ("bob", "c2"), ("carol", "c1")]:
    App.objects.get_or_create(
        client_id=client_id, defaults=dict(
            name=client_id, client_type=App.CLIENT_PUBLIC,
            authorization_grant_type=App.GRANT_AUTHORIZATION_CODE,
            redirect_uris="http://127.0.0.1:9/callback",
        ),
    )
    membership = User.objects.get(username=username).memberships.get()
    tokens[username] = mint_access_token(
        user_id=membership.user_id, client_id=client_id, scopes=["tools:call"],
        tenant_id=membership.tenant_id, tenant_slug=membership.tenant.slug,
    ).token
print(json.dumps(tokens))
"""

RATE_LIMITED_ROWS = """
import json
import django
django.setup()
from audit.models import AuditEvent
rows = AuditEvent.objects.filter(reason="rate_limited").order_by("id")
print(json.dumps([
    {"client_id": r.client_id, "tenant_id": r.tenant_id, "event": r.event,
     "arguments": r.arguments, "chain_id": r.chain_id,
     "at": r.occurred_at.timestamp()}
    for r in rows
]))
"""


def _setup(server: LiveServer, *, burst: int, share: int) -> dict[str, str]:
    tokens = json.loads(
        server.python("-c", SETUP, "0.01", str(burst), str(share)).splitlines()[-1]
    )
    time.sleep(1.2)  # past the policy cache (MCP_POLICY_CACHE_SECONDS)
    return tokens


def _call(url: str, token: str, request_id: object = 1) -> httpx2.Response:
    """One tools/call echo on a fresh connection."""
    return httpx2.post(
        url,
        json={
            "jsonrpc": "2.0",
            "id": request_id,
            "method": "tools/call",
            "params": {"name": "echo", "arguments": {"message": "q"}},
        },
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2025-11-25",
        },
        timeout=10,
    )


def _statuses(url: str, token: str, count: int) -> list[int]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        return [
            r.status_code for r in pool.map(lambda _: _call(url, token), range(count))
        ]


def _rows(server: LiveServer) -> list[dict]:
    return json.loads(server.python("-c", RATE_LIMITED_ROWS).splitlines()[-1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with run_live_server(tmp_path, host="127.0.0.1") as live:
        yield live


def test_over_the_quota_answers_429_with_retry_after_and_the_request_id(
    server: LiveServer,
) -> None:
    tokens = _setup(server, burst=3, share=100)
    assert [_call(server.mcp_url, tokens["alice"]).status_code for _ in range(3)] == [
        200
    ] * 3

    refused = _call(server.mcp_url, tokens["alice"], request_id="req-42")

    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    body = refused.json()
    assert body["id"] == "req-42"
    assert body["error"]["code"] == -32005
    assert body["error"]["data"]["limit"] in ("tenant", "client")
    assert body["error"]["data"]["retry_after"] == int(refused.headers["retry-after"])
    # Discovery and metadata are not limited by tenant.
    for path in (
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-authorization-server",
        "/.well-known/jwks.json",
    ):
        assert httpx2.get(server.url + path, timeout=10).status_code == 200


def test_one_client_uses_only_its_share_and_the_other_tenant_is_unaffected(
    server: LiveServer,
) -> None:
    tokens = _setup(server, burst=10, share=50)  # 5 each for alice's and bob's

    alice = _statuses(server.mcp_url, tokens["alice"], 12)
    bob = _statuses(server.mcp_url, tokens["bob"], 12)
    carol = _statuses(server.mcp_url, tokens["carol"], 12)

    assert sorted(alice) == [200] * 5 + [429] * 7
    assert sorted(bob) == [200] * 5 + [429] * 7  # alice's flood left bob his share
    assert carol == [200] * 12  # tenant-b has no quota of its own


def test_refusals_are_audited_once_a_second_per_client_with_their_count(
    server: LiveServer,
) -> None:
    tokens = _setup(server, burst=2, share=100)
    refused = 0
    started = time.monotonic()
    # At least 2.5 s and more than 50 refusals: on a loaded machine the
    # calls come slower, so the refusing takes longer (bounded).
    while time.monotonic() - started < 2.5 or refused <= 50:
        assert time.monotonic() - started < 30, f"only {refused} refusals in 30 s"
        refused += _statuses(server.mcp_url, tokens["alice"], 16).count(429)
    refused += _statuses(server.mcp_url, tokens["bob"], 5).count(429)
    refusing = time.monotonic() - started
    time.sleep(1.5)  # the last window's count is flushed after a second

    rows = _rows(server)

    assert {row["event"] for row in rows} == {"tool_denied"}
    by_client: dict[str, list[dict]] = {}
    for row in rows:
        by_client.setdefault(row["client_id"], []).append(row)
    assert sum(r["arguments"]["refusals"] for r in rows) == refused
    assert sum(r["arguments"]["refusals"] for r in by_client["c2"]) == 5
    alice_rows = by_client["c1"]
    # One row a second at most (plus the windows cut at either end).
    assert len(alice_rows) <= int(refusing) + 3
    assert len(alice_rows) < sum(r["arguments"]["refusals"] for r in alice_rows)
    gaps = [b["at"] - a["at"] for a, b in itertools.pairwise(alice_rows)]
    assert all(gap >= 0.9 for gap in gaps), gaps


def test_two_workers_share_the_buckets_through_redis(tmp_path: Path) -> None:
    _require_redis()
    cache_url = f"{REDIS_URL}?key_prefix=live-{uuid.uuid4().hex}"
    # A generous bound: on a loaded machine one slow first round trip
    # (connect, script load) would send a worker to its own buckets for 5 s.
    env = {"CACHE_URL": cache_url, "MCP_QUOTA_REDIS_TIMEOUT": "2"}
    with run_live_server(
        tmp_path, workers=2, host="127.0.0.1", extra_env=env
    ) as server:
        tokens = _setup(server, burst=10, share=100)

        first = _statuses(server.mcp_url, tokens["alice"], 40)
        # Per-process buckets would admit 20.
        assert first.count(200) == 10, server.log()[-3000:]

        deadline = time.monotonic() + 30
        while len({row["chain_id"] for row in _rows(server)}) < 2:
            # Each worker writes refusals to a chain of its own: both refuse.
            assert set(_statuses(server.mcp_url, tokens["alice"], 16)) == {429}
            assert time.monotonic() < deadline, "one worker never refused"
            time.sleep(1.1)
        assert "unreachable" not in server.log()


def test_an_unreachable_redis_falls_back_to_per_process_buckets(
    tmp_path: Path,
) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    with run_live_server(
        tmp_path, host="127.0.0.1", extra_env={"CACHE_URL": closed}
    ) as server:
        tokens = _setup(server, burst=3, share=100)

        statuses = [
            _call(server.mcp_url, tokens["alice"]).status_code for _ in range(8)
        ]
        carol = [_call(server.mcp_url, tokens["carol"]).status_code for _ in range(3)]

        assert statuses == [200] * 3 + [429] * 5
        assert carol == [200] * 3
        assert server.log().count("Redis is unreachable for quota counters") == 1


def _require_redis() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as error:
        pytest.fail(f"Redis at {REDIS_URL} is needed (MCP_TEST_REDIS_URL): {error}")

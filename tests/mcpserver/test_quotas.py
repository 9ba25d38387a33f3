"""Quotas: the limits a tenant gets, the buckets, the store status.

The behaviour over HTTP (429s, shares, audit rows, Redis shared by two
workers, the fallback) is tested against live servers in
test_quotas_live.py; the admin fields in tests/console/test_quotas_admin.py.
"""

import asyncio
import contextlib
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from config.asgi import mcp_app
from mcpserver.db import run_db
from mcpserver.quota_buckets import Limits, LocalBuckets
from mcpserver.quotas import RETRY_SECONDS, QuotaDefaults
from tenants.models import Tenant
from tenants.selectors import TenantQuota, get_tool_policy
from tests.live_server import free_port
from tests.mcpserver.conftest import (
    Demo,
    call_params,
    http_client,
    post_rpc,
    rpc_headers,
    running_app,
)
from tests.mcpserver.test_quotas_live import REDIS_URL


async def _set_tenant_a_quota(**quota: float) -> None:
    """Set tenant-a's quota fields through run_db, as the app reads them.

    run_db replaces a thread's broken connection (one a PostgreSQL restart
    or another test's fault left behind); the async ORM's one thread would
    keep it.
    """

    def update() -> None:
        Tenant.objects.filter(slug="tenant-a").update(**quota)

    await run_db(update)


@pytest.mark.parametrize(
    ("defaults", "quota", "expected"),
    [
        (QuotaDefaults(), TenantQuota(), None),
        (QuotaDefaults(rate=0, client_share=50), TenantQuota(rate=10), (10, 10, 5, 5)),
        (
            QuotaDefaults(rate=4, burst=20, client_share=50),
            TenantQuota(),
            (4, 20, 2, 10),
        ),
        (
            QuotaDefaults(rate=4, burst=20, client_share=50),
            TenantQuota(rate=1, burst=3, client_share=100),
            (1, 3, 1, 3),
        ),
        (QuotaDefaults(client_share=10), TenantQuota(rate=0.5), (0.5, 1, 0.05, 1)),
    ],
)
def test_a_tenants_limits_are_its_own_values_else_the_servers(
    defaults: QuotaDefaults, quota: TenantQuota, expected: tuple | None
) -> None:
    limits = defaults.limits(quota)
    if expected is None:
        assert limits is None
    else:
        assert limits == Limits(*expected)


def test_a_bucket_admits_its_burst_then_refills_at_its_rate() -> None:
    buckets = LocalBuckets()
    limits = Limits(rate=2, burst=4, client_rate=2, client_burst=4)
    admitted = [buckets.take_now("t", "c", limits, 100.0).admitted for _ in range(5)]
    assert admitted == [True] * 4 + [False]
    refused = buckets.take_now("t", "c", limits, 100.0)
    assert refused.retry_after == pytest.approx(0.5)
    assert buckets.take_now("t", "c", limits, 100.5).admitted
    assert not buckets.take_now("t", "c", limits, 100.5).admitted


def test_a_clients_bucket_refuses_before_the_tenants_is_empty() -> None:
    buckets = LocalBuckets()
    limits = Limits(rate=1, burst=4, client_rate=0.5, client_burst=2)
    one = [buckets.take_now("t", "c1", limits, 0.0) for _ in range(3)]
    two = [buckets.take_now("t", "c2", limits, 0.0) for _ in range(3)]
    assert [v.admitted for v in one] == [True, True, False]
    assert one[-1].limit == "client"
    assert [v.admitted for v in two] == [True, True, False]
    assert not buckets.take_now("t", "c3", limits, 0.0).admitted  # tenant empty
    assert buckets.take_now("t", "c3", limits, 0.0).limit == "tenant"


def test_the_policy_snapshot_carries_the_tenants_quota(db: None) -> None:
    tenant = Tenant.objects.create(
        slug="q", name="Q", quota_rate=2.5, quota_burst=7, quota_client_share=40
    )
    assert get_tool_policy(tenant_id=tenant.pk).quota == TenantQuota(2.5, 7, 40)


@pytest.mark.django_db(transaction=True)
async def test_readiness_sees_when_redis_is_unreachable(demo: Demo, settings) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": closed,
        }
    }
    await _set_tenant_a_quota(quota_rate=1, quota_burst=2, quota_client_share=100)
    token = await demo.atoken("alice")
    async with running_app():
        assert mcp_app.quota_status().store == "redis"
        statuses = [
            (await post_rpc(token, "tools/call", call_params("echo", message="x")))
            for _ in range(3)
        ]
        status = mcp_app.quota_status()
    assert [s.status_code for s in statuses] == [200, 200, 429]
    assert status.store == "local"
    assert status.degraded
    assert "ConnectionError" in status.error


@pytest.mark.django_db(transaction=True)
async def test_readiness_sees_counters_shared_in_redis(demo: Demo, settings) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        }
    }
    settings.MCP_QUOTA_REDIS_TIMEOUT = 2  # a loaded machine is not an outage
    await _set_tenant_a_quota(quota_rate=1, quota_burst=2, quota_client_share=100)
    token = await demo.atoken("alice")
    async with running_app():
        statuses = [
            (await post_rpc(token, "tools/call", call_params("echo", message="x")))
            for _ in range(3)
        ]
        status = mcp_app.quota_status()
    assert [s.status_code for s in statuses] == [200, 200, 429]
    assert (status.store, status.shared, status.degraded) == ("redis", True, False)


@contextlib.contextmanager
def _throwaway_redis(port: int) -> Iterator[None]:
    """Debian's redis-server on `port`, no persistence, stopped afterwards."""
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(port=port, socket_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.django_db(transaction=True)
async def test_counters_return_to_redis_when_it_answers_again(
    demo: Demo, settings
) -> None:
    port = free_port()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
        }
    }
    settings.MCP_QUOTA_REDIS_TIMEOUT = 2  # a loaded machine is not an outage
    await _set_tenant_a_quota(quota_rate=100, quota_burst=100, quota_client_share=100)
    token = await demo.atoken("alice")

    async def call() -> int:
        answer = await post_rpc(token, "tools/call", call_params("echo", message="x"))
        return answer.status_code

    async with running_app():
        with _throwaway_redis(port):
            assert await call() == 200
            assert mcp_app.quota_status().shared
        assert await call() == 200  # Redis gone: counted in this process
        assert mcp_app.quota_status().degraded
        with _throwaway_redis(port):
            await asyncio.sleep(RETRY_SECONDS)
            assert await call() == 200
            status = mcp_app.quota_status()
    assert (status.store, status.shared, status.degraded) == ("redis", True, False)


@pytest.mark.django_db(transaction=True)
async def test_every_authenticated_method_counts_and_a_notification_gets_a_null_id(
    mcp_app: Demo,
) -> None:
    await _set_tenant_a_quota(quota_rate=0.01, quota_burst=2, quota_client_share=100)
    token = await mcp_app.atoken("alice")
    listed = await post_rpc(token, "tools/list", request_id="list-1")
    called = await post_rpc(token, "tools/call", call_params("echo", message="x"))
    refused = await post_rpc(token, "tools/list", request_id="list-2")
    async with http_client(token) as client:
        notified = await client.post(
            "/mcp",
            content=b'{"jsonrpc":"2.0","method":"notifications/initialized"}',
            headers=rpc_headers(),
        )

    assert (listed.status_code, called.status_code) == (200, 200)
    assert refused.status_code == 429
    assert refused.json()["id"] == "list-2"
    assert notified.status_code == 429
    assert notified.json()["id"] is None
    assert int(notified.headers["retry-after"]) >= 1

"""Tool-call metrics in process: both paths, quota refusals, the gauges.

Values are read the way a scrape reads them (every file of the node's
directory, config/metrics_endpoint.py), as differences, since the test
process keeps counting across tests.
"""

import pytest
from django.conf import settings
from prometheus_client.parser import text_string_to_metric_families

from config import process_gauges
from config.metrics_endpoint import exposition
from mcpserver.db import run_db
from tenants.models import Tenant
from tests.mcpserver.conftest import MODERN, Demo, call_params, post_rpc


def values(name: str) -> dict[tuple, float]:
    """{sorted label items: value} of `name`'s samples in a scrape now."""
    text = exposition(str(settings.MCP_METRICS_DIR)).decode()
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def added(before: dict[tuple, float], after: dict[tuple, float]) -> dict:
    return {
        key: after[key] - before.get(key, 0)
        for key in after
        if after[key] != before.get(key, 0)
    }


def labels(**items: str) -> tuple:
    return tuple(sorted(items.items()))


@pytest.mark.django_db(transaction=True)
async def test_the_sdk_path_and_the_fast_path_count_alike(mcp_app: Demo) -> None:
    token = await mcp_app.atoken("alice")
    before = values("mcp_tool_calls_total")
    fast = await post_rpc(token, "tools/call", call_params("echo", message="x"))
    sdk = await post_rpc(
        token, "tools/call", call_params("echo", message="x"), version=MODERN
    )
    assert fast.status_code == sdk.status_code == 200
    assert added(before, values("mcp_tool_calls_total")) == {
        labels(tenant="tenant-a", tool="echo", outcome="ok"): 2
    }


@pytest.mark.django_db(transaction=True)
async def test_quota_refusals_count_by_tenant_and_bucket(mcp_app: Demo) -> None:
    def limit() -> None:
        Tenant.objects.filter(slug="tenant-a").update(
            quota_rate=0.01, quota_burst=1, quota_client_share=100
        )

    await run_db(limit)
    token = await mcp_app.atoken("alice")
    before_refusals = values("mcp_quota_refusals_total")
    before_calls = values("mcp_tool_calls_total")
    statuses = [
        (
            await post_rpc(token, "tools/call", call_params("echo", message="x"))
        ).status_code
        for _ in range(3)
    ]
    assert statuses == [200, 429, 429]
    refusals = added(before_refusals, values("mcp_quota_refusals_total"))
    assert sum(refusals.values()) == 2
    assert {dict(key)["tenant"] for key in refusals} == {"tenant-a"}
    assert added(before_calls, values("mcp_tool_calls_total")) == {
        labels(tenant="tenant-a", tool="echo", outcome="ok"): 1,
        labels(tenant="tenant-a", tool="echo", outcome="rate_limited"): 2,
    }


def test_the_jwks_age_is_reported_in_resource_server_mode_only(settings) -> None:
    settings.MCP_AUTHORIZATION_SERVER = ""
    process_gauges.refresh()
    issuer = "https://issuer.invalid"
    assert labels(issuer=issuer) not in values("mcp_jwks_age_seconds")
    settings.MCP_AUTHORIZATION_SERVER = issuer
    process_gauges.refresh()
    assert labels(issuer=issuer) in values("mcp_jwks_age_seconds")
    assert () in values("mcp_revocation_feed_lag_seconds")

"""Each audit console filter reads through an index, never a scan of the table.

PostgreSQL only: the plans are PostgreSQL's, on ~30,000 rows across a dozen
tenants (tests/audit/synthetic.py), enough that a sequential scan would be
chosen where no index fits. The timings live in scripts/bench_audit_admin.py.
"""

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from oauth2_provider.models import get_application_model

from accounts.models import User
from tenants.demo import seed_demo_data
from tenants.models import Membership, Tenant
from tests.audit.synthetic import insert_synthetic_events
from tests.factories import MembershipFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db
ROWS = 30_000
TOOLS = ["echo", "search_documents", "export_report", "admin_purge"]


@pytest.fixture
def filled() -> dict[str, Any]:
    if connection.vendor != "postgresql":
        pytest.skip("query plans are PostgreSQL's; SQLite has no EXPLAIN to compare")
    seed_demo_data()
    UserFactory(username="root", is_staff=True, is_superuser=True)
    for n in range(10):
        MembershipFactory(tenant=TenantFactory(slug=f"filler-{n}"))
    members = list(Membership.objects.values_list("tenant_id", "user_id"))
    application = get_application_model()
    clients = [f"cid-{n}" for n in range(20)]
    for client_id in clients:
        application.objects.create(
            client_id=client_id,
            name=f"Client {client_id}",
            client_type=application.CLIENT_PUBLIC,
            authorization_grant_type=application.GRANT_AUTHORIZATION_CODE,
            redirect_uris="http://127.0.0.1:9999/callback",
        )
    insert_synthetic_events(
        rows=ROWS,
        members=members,
        clients=clients,
        tools=TOOLS,
        newest=timezone.now(),
        span=timedelta(days=30),
        chains=500,
    )
    tenant_a = Tenant.objects.get(slug="tenant-a")
    return {
        "tenant": str(tenant_a.pk),
        "user": str(User.objects.get(username="bob").pk),
    }


def _filters(filled: dict[str, Any]) -> dict[str, dict[str, str]]:
    today = timezone.localdate()
    return {
        "tenant": {"tenant__id__exact": filled["tenant"]},
        "user": {"user__id__exact": filled["user"]},
        "client": {"client_id": "cid-3"},
        "tool": {"tool": "admin_purge"},
        "event": {"event__exact": "tool_failed"},
        "outcome": {"outcome__exact": "denied"},
        "date range": {
            "occurred_from": str(today - timedelta(days=2)),
            "occurred_to": str(today - timedelta(days=1)),
        },
    }


def _audit_queries(client: Client, params: dict[str, str]) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("admin:audit_auditevent_changelist"), params)
    assert response.status_code == 200
    return [
        query["sql"]
        for query in captured.captured_queries
        if 'FROM "audit_auditevent"' in query["sql"]
    ]


def _plan(sql: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


def _assert_indexed(client: Client, params: dict[str, str]) -> None:
    queries = _audit_queries(client, params)
    assert queries, "the changelist read no audit rows"
    for sql in queries:
        plan = _plan(sql)
        assert "Seq Scan on audit_auditevent" not in plan, f"{sql}\n{plan}"


@pytest.mark.parametrize(
    "name", ["none", "user", "client", "tool", "event", "outcome", "date range"]
)
def test_a_tenant_admins_filtered_list_reads_through_an_index(filled, name):
    """alice's every query is narrowed by her tenant, and an index leads with it."""
    alice = Client()
    alice.force_login(User.objects.get(username="alice"))
    _assert_indexed(alice, _filters(filled).get(name, {}))


@pytest.mark.parametrize("name", ["tenant", "user", "event", "date range"])
def test_a_superusers_filtered_list_reads_through_an_index(filled, name):
    """Filters an index leads with, without a tenant (tool, client and outcome
    alone are only narrowed within a tenant: their counts scan)."""
    root = Client()
    root.force_login(User.objects.get(username="root"))
    _assert_indexed(root, _filters(filled)[name])


def test_a_superusers_tenant_and_tool_filters_combine_on_one_index(filled):
    root = Client()
    root.force_login(User.objects.get(username="root"))
    params = {**_filters(filled)["tenant"], **_filters(filled)["tool"]}
    queries = _audit_queries(root, params)
    assert any("audit_tenant_tool_time" in _plan(sql) for sql in queries)


def test_the_table_is_large_enough_that_an_unindexed_filter_scans(filled):
    """Without this, the tests above would pass on a table too small to matter."""
    plan = _plan("SELECT count(*) FROM audit_auditevent WHERE reason = 'x'")
    assert "Seq Scan on audit_auditevent" in plan

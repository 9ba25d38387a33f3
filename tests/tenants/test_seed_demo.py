from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import User
from tenants.models import Document, Membership, Report, Tenant, TenantTool, Tool

pytestmark = pytest.mark.django_db


def _snapshot() -> dict[str, list]:
    return {
        "tenants": list(Tenant.objects.values_list("slug", "name", "is_active")),
        "users": list(User.objects.values_list("username", "password")),
        "memberships": list(
            Membership.objects.values_list("user__username", "tenant__slug", "role")
        ),
        "tools": list(Tool.objects.values_list("name", "required_scopes")),
        "policy": list(
            TenantTool.objects.values_list("tenant__slug", "tool__name", "enabled")
        ),
        "documents": list(Document.objects.values_list("pk", "tenant__slug", "title")),
        "reports": list(Report.objects.values_list("pk", "tenant__slug", "report_id")),
    }


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_demo_twice_leaves_the_same_rows():
    _seed()
    first = _snapshot()
    _seed()
    assert _snapshot() == first


def test_seed_demo_creates_the_documented_tenants_users_and_policy():
    output = _seed()
    assert "demo accounts" in output
    assert "WARNING" in output
    roles = set(
        Membership.objects.values_list("user__username", "tenant__slug", "role")
    )
    assert roles == {
        ("alice", "tenant-a", "admin"),
        ("bob", "tenant-a", "member"),
        ("carol", "tenant-b", "member"),
        ("dave", "tenant-a", "member"),
        ("dave", "tenant-b", "admin"),
    }
    policy = {
        slug: set(
            TenantTool.objects.filter(tenant__slug=slug, enabled=True).values_list(
                "tool__name", flat=True
            )
        )
        for slug in ("tenant-a", "tenant-b")
    }
    assert policy == {
        "tenant-a": {"echo", "search_documents", "admin_purge"},
        "tenant-b": {"echo", "search_documents", "export_report"},
    }
    assert Tool.objects.get(name="admin_purge").required_scope_set == {
        "tools:call",
        "admin",
    }
    assert Document.objects.filter(tenant__slug="tenant-a").count() >= 2
    assert Document.objects.filter(tenant__slug="tenant-b").count() >= 2
    assert set(
        Report.objects.filter(tenant__slug="tenant-b").values_list(
            "report_id", flat=True
        )
    ) == {"r1", "r2"}


def test_demo_passwords_are_hashed_and_work():
    _seed()
    alice = User.objects.get(username="alice")
    assert alice.password != "demo"
    assert alice.check_password("demo")


def test_seed_demo_restores_purged_documents():
    _seed()
    Document.objects.filter(tenant__slug="tenant-a").delete()
    _seed()
    assert Document.objects.filter(tenant__slug="tenant-a").count() == 3

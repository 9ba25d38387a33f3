"""Every change made through the console is an `admin_action` row, with the change."""

from http import HTTPStatus
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from audit.models import AuditEvent
from tenants import admin_audit
from tenants.models import Document, Membership, Report, Tenant, TenantTool
from tests.console.conftest import change_form_data, make_client


def _rows() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event="admin_action").order_by("id"))


def _change(client: Client, obj: Any, **changes: Any) -> Any:
    meta = obj._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
    data = {**change_form_data(client, url), **changes}
    response = client.post(url, data)
    assert response.status_code == HTTPStatus.FOUND, response.context[
        "adminform"
    ].form.errors
    return response


def test_changing_a_document_records_who_what_and_the_fields(seeded, alice):
    document = Document.objects.get(title="Security policy")
    _change(alice, document, title="Security policy v2")
    (row,) = _rows()
    assert row.user_id == User.objects.get(username="alice").pk
    assert row.tenant_id == seeded["tenant-a"].pk
    assert row.arguments == {
        "operation": "change",
        "model": "tenants.document",
        "object_id": str(document.pk),
        "label": "Security policy v2",
        "changes": {
            "title": {"before": "Security policy", "after": "Security policy v2"}
        },
    }


def test_changing_a_role_is_recorded(seeded, alice):
    membership = Membership.objects.get(user__username="bob")
    _change(alice, membership, role="admin")
    (row,) = _rows()
    assert row.arguments["changes"] == {"role": {"before": "member", "after": "admin"}}
    assert row.tenant_id == seeded["tenant-a"].pk


def test_adding_a_membership_is_recorded(seeded, root):
    carol = User.objects.get(username="carol")
    response = root.post(
        reverse("admin:tenants_membership_add"),
        {"user": carol.pk, "tenant": seeded["tenant-a"].pk, "role": "member"},
    )
    assert response.status_code == HTTPStatus.FOUND
    (row,) = _rows()
    assert row.arguments["operation"] == "add"
    assert row.arguments["changes"]["user"] == {"before": None, "after": carol.pk}
    assert row.tenant_id == seeded["tenant-a"].pk


def test_tool_policy_change_is_recorded(seeded, alice):
    policy = TenantTool.objects.get(tenant__slug="tenant-a", tool__name="echo")
    _change(alice, policy, extra_scopes="admin")
    (row,) = _rows()
    assert row.arguments["model"] == "tenants.tenanttool"
    assert row.arguments["changes"] == {
        "extra_scopes": {"before": "", "after": "admin"}
    }


def test_tenant_change_and_its_inline_rows_are_recorded(seeded, root):
    tenant_b = seeded["tenant-b"]
    url = reverse("admin:tenants_tenant_change", args=[tenant_b.pk])
    data = change_form_data(root, url)
    data["name"] = "Tenant B renamed"
    carol_row = next(
        key.removesuffix("-user")
        for key, value in data.items()
        if key.startswith("memberships-")
        and key.endswith("-user")
        and value == User.objects.get(username="carol").pk
    )
    data[f"{carol_row}-role"] = "admin"
    assert root.post(url, data).status_code == HTTPStatus.FOUND
    rows = {row.arguments["model"]: row for row in _rows()}
    assert rows["tenants.tenant"].arguments["changes"]["name"]["after"] == (
        "Tenant B renamed"
    )
    assert rows["tenants.membership"].arguments["changes"] == {
        "role": {"before": "member", "after": "admin"}
    }
    assert {row.tenant_id for row in rows.values()} == {tenant_b.pk}


def test_deleting_is_recorded_one_row_per_object(seeded, alice):
    document = Document.objects.get(title="Quarterly plan")
    url = reverse("admin:tenants_document_delete", args=[document.pk])
    assert alice.post(url, {"post": "yes"}).status_code == HTTPStatus.FOUND
    report = Report.objects.get(report_id="a1")
    alice.post(
        reverse("admin:tenants_report_changelist"),
        {"action": "delete_selected", "_selected_action": [report.pk], "post": "yes"},
    )
    assert not Report.objects.filter(pk=report.pk).exists()
    assert [(r.arguments["operation"], r.arguments["label"]) for r in _rows()] == [
        ("delete", "Quarterly plan"),
        ("delete", "a1: A's"),
    ]


def test_user_changes_and_passwords_are_recorded_without_secrets(seeded, alice, root):
    bob = User.objects.get(username="bob")
    _change(alice, bob, email="robert@example.com")
    password_url = reverse("admin:auth_user_password_change", args=[bob.pk])
    response = alice.post(
        password_url,
        {
            "password1": "n3w-Secret!x",
            "password2": "n3w-Secret!x",
            "usable_password": "true",
        },
    )
    assert response.status_code == HTTPStatus.FOUND
    added = root.post(
        reverse("admin:accounts_user_add"),
        {
            "username": "erin",
            "password1": "An0ther-Secret!",
            "password2": "An0ther-Secret!",
            "usable_password": "true",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert added.status_code == HTTPStatus.FOUND
    change, password, add = _rows()
    assert change.arguments["changes"] == {
        "email": {"before": "bob@example.com", "after": "robert@example.com"}
    }
    assert change.tenant_id == seeded["tenant-a"].pk
    assert password.arguments["changes"] == {
        "password": {"before": "********", "after": "********"}
    }
    assert add.arguments["changes"]["password1"]["after"] == "********"
    text = "".join(str(row.arguments) + row.reason for row in _rows())
    assert "Secret" not in text


def test_client_changes_are_recorded_with_the_client(seeded, root):
    application = make_client("cli")
    _change(root, application, name="Renamed CLI")
    (row,) = _rows()
    assert row.client_id == "cli"
    assert row.arguments["changes"]["name"] == {"before": "cli", "after": "Renamed CLI"}


def test_an_audit_failure_rolls_the_change_back(seeded, alice, monkeypatch):
    def fail(**fields: Any) -> None:
        raise RuntimeError("audit down")

    monkeypatch.setattr(admin_audit, "record_event", fail)
    document = Document.objects.get(title="Security policy")
    with pytest.raises(RuntimeError):
        _change(alice, document, title="Changed")
    assert Document.objects.get(pk=document.pk).title == "Security policy"


def test_console_sign_ins_are_audited(seeded):
    login = reverse("admin:login")
    signed = Client().post(login, {"username": "alice", "password": "demo"})
    assert signed.status_code == HTTPStatus.FOUND
    refused = Client().post(login, {"username": "bob", "password": "demo"})
    assert refused.status_code == HTTPStatus.OK  # a member only: not admitted
    wrong = Client().post(login, {"username": "alice", "password": "nope"})
    assert wrong.status_code == HTTPStatus.OK
    events = list(AuditEvent.objects.order_by("id").values_list("event", "reason"))
    assert events == [
        ("admin_action", "alice signed in to the operator console"),
        ("login_failed", "failed operator console sign-in for 'bob'"),
        ("login_failed", "failed operator console sign-in for 'alice'"),
    ]
    assert Tenant.objects.count() == 2

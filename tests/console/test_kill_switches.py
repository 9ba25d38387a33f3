"""Kill switches: each action asks first, acts only within scope, and is audited."""

from http import HTTPStatus
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from oauth2_provider.models import RefreshToken

from accounts.models import User
from audit.models import AuditEvent
from oauth.models import ClientProfile, Revocation
from oauth.token_hashing import stored_form, unverified_claims
from tenants.models import Tenant, TenantTool
from tests.console.conftest import issue_token, make_client, signed_in


def _act(client: Client, changelist: str, action: str, pks: list[Any], **extra):
    return client.post(
        reverse(f"admin:{changelist}_changelist"),
        {"action": action, "_selected_action": pks, **extra},
    )


def _revoked_jtis() -> set[str]:
    return set(Revocation.objects.filter(kind="jti").values_list("subject", flat=True))


def _jti(token: str) -> str:
    return unverified_claims(token)["jti"]


def _admin_actions() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event="admin_action").order_by("id"))


def test_an_action_asks_for_confirmation_first(seeded, alice):
    tenant_a = seeded["tenant-a"]
    page = _act(alice, "tenants_tenant", "disable_tenants", [tenant_a.pk])
    assert page.status_code == HTTPStatus.OK
    assert page.templates[0].name == "admin/kill_switch_confirmation.html"
    assert 'name="post" value="yes"' in page.text
    assert Tenant.objects.get(pk=tenant_a.pk).is_active
    assert _admin_actions() == []


def test_tenant_admin_revokes_a_users_tokens_for_their_tenant_only(seeded, alice):
    shared = make_client("shared")
    in_a = issue_token(shared, "dave", "tenant-a")
    in_b = issue_token(shared, "dave", "tenant-b")
    dave = User.objects.get(username="dave")

    response = _act(alice, "accounts_user", "revoke_user_tokens", [dave.pk], post="yes")
    assert response.status_code == HTTPStatus.FOUND
    assert _revoked_jtis() == {_jti(in_a)}
    scoped = Revocation.objects.exclude(kind="jti")
    assert [(r.kind, r.subject, r.tenant_id) for r in scoped] == [
        ("user", str(dave.pk), seeded["tenant-a"].pk)
    ]
    live = RefreshToken.objects.filter(revoked__isnull=True)
    assert [t.access_token.token for t in live] == [stored_form(in_b)]
    (event,) = _admin_actions()
    assert event.tenant_id == seeded["tenant-a"].pk
    assert event.user_id == User.objects.get(username="alice").pk
    assert "dave" in event.reason


def test_superuser_revokes_every_token_of_a_user(seeded, root):
    issue_token(make_client("shared"), "dave", "tenant-b")
    dave = User.objects.get(username="dave")
    _act(root, "accounts_user", "revoke_user_tokens", [dave.pk], post="yes")
    assert Revocation.objects.filter(kind="user", subject=str(dave.pk)).exists()
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()
    (event,) = _admin_actions()
    assert "revoked every token of user dave" in event.reason


def test_tenant_admin_revokes_a_clients_tokens_for_their_tenant_only(seeded, alice):
    shared = make_client("shared")
    in_a = issue_token(shared, "bob", "tenant-a")
    issue_token(shared, "carol", "tenant-b")
    _act(
        alice,
        "oauth2_provider_application",
        "revoke_client_tokens",
        [shared.pk],
        post="yes",
    )
    assert _revoked_jtis() == {_jti(in_a)}
    (event,) = _admin_actions()
    assert event.client_id == "shared"
    assert event.tenant_id == seeded["tenant-a"].pk


def test_superuser_revokes_and_disables_a_client(seeded, root, clients):
    client_b = clients["b"]
    changelist = "oauth2_provider_application"
    _act(root, changelist, "revoke_client_tokens", [client_b.pk], post="yes")
    _act(root, changelist, "disable_clients", [client_b.pk], post="yes")
    assert Revocation.objects.filter(kind="client", subject="client-b").count() == 2
    assert ClientProfile.objects.get(application=client_b).is_disabled
    assert [e.client_id for e in _admin_actions()] == ["client-b", "client-b"]


def test_tenant_admin_cannot_disable_users_or_clients(seeded, alice, clients):
    bob = User.objects.get(username="bob")
    _act(alice, "accounts_user", "disable_users", [bob.pk], post="yes")
    _act(
        alice,
        "oauth2_provider_application",
        "disable_clients",
        [clients["a"].pk],
        post="yes",
    )
    assert User.objects.get(pk=bob.pk).is_active
    assert not ClientProfile.objects.filter(is_disabled=True).exists()
    assert _admin_actions() == []


def test_superuser_disables_a_user(seeded, root):
    bob = User.objects.get(username="bob")
    _act(root, "accounts_user", "disable_users", [bob.pk], post="yes")
    assert not User.objects.get(pk=bob.pk).is_active
    assert Revocation.objects.filter(kind="user", subject=str(bob.pk)).exists()
    (event,) = _admin_actions()
    assert "disabled user bob" in event.reason


def test_tenant_admin_revokes_and_disables_their_tenant_not_another(seeded, alice):
    tenant_a, tenant_b = seeded["tenant-a"], seeded["tenant-b"]
    issue_token(make_client("c"), "bob", "tenant-a")
    _act(
        alice,
        "tenants_tenant",
        "revoke_tenant_tokens_action",
        [tenant_b.pk],
        post="yes",
    )
    _act(alice, "tenants_tenant", "disable_tenants", [tenant_b.pk], post="yes")
    assert not Revocation.objects.exists()
    assert Tenant.objects.get(pk=tenant_b.pk).is_active

    _act(
        alice,
        "tenants_tenant",
        "revoke_tenant_tokens_action",
        [tenant_a.pk],
        post="yes",
    )
    assert Revocation.objects.filter(kind="tenant", subject=str(tenant_a.pk)).exists()
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()
    _act(alice, "tenants_tenant", "disable_tenants", [tenant_a.pk], post="yes")
    assert not Tenant.objects.get(pk=tenant_a.pk).is_active
    assert [e.tenant_id for e in _admin_actions()] == [tenant_a.pk, tenant_a.pk]


def test_tenant_admin_disables_a_tool_for_their_tenant_only(seeded, alice):
    echo_a = TenantTool.objects.get(tenant__slug="tenant-a", tool__name="echo")
    echo_b = TenantTool.objects.get(tenant__slug="tenant-b", tool__name="echo")
    _act(
        alice,
        "tenants_tenanttool",
        "disable_tools",
        [echo_a.pk, echo_b.pk],
        post="yes",
    )
    assert not TenantTool.objects.get(pk=echo_a.pk).enabled
    assert TenantTool.objects.get(pk=echo_b.pk).enabled
    (event,) = _admin_actions()
    assert (event.tenant_id, event.tool) == (seeded["tenant-a"].pk, "echo")


@pytest.mark.parametrize("username", ["alice", "root"])
def test_the_kill_switches_are_offered(seeded, root, username):
    client = signed_in(username)
    page = client.get(reverse("admin:accounts_user_changelist"))
    actions = {
        name for name, _label in page.context["action_form"].fields["action"].choices
    }
    assert "revoke_user_tokens" in actions
    assert ("disable_users" in actions) == (username == "root")

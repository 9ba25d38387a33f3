"""Kill switches in the operator console, as admin actions on users, clients, tenants.

Each asks for confirmation (tenants.admin_actions.confirm_then), calls one
durable service of oauth/kill_switches.py (which writes the `admin_action`
audit row with the change) and takes effect at every MCP worker within a
second. A superuser revokes a user's or client's tokens everywhere (a
subject entry on the revocation feed); a tenant administrator only the
tokens issued for the tenants they administer, by jti, so other tenants'
sessions of the same user or client keep working. Disabling a user or a
client is account-wide, so only superusers may.
"""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse

from accounts.models import User
from oauth.kill_switches import (
    disable_account,
    disable_client,
    disable_tenant,
    revoke_all_tokens,
    revoke_tenant_tokens,
)
from oauth.models import AuthorizationRecord, Revocation
from tenants.admin_actions import confirm_then
from tenants.admin_scoping import request_tenant_ids
from tenants.models import Membership, Tenant

Response = TemplateResponse | None
WITHIN_A_SECOND = "every MCP worker refuses them within a second."


class SuperuserActions:
    """Lets `@admin.action(permissions=["superuser"])` mean what it says."""

    def has_superuser_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser


def _scoped(request: HttpRequest, tenant_ids: Any) -> list[int]:
    """The tenants among `tenant_ids` that the request's user administers."""
    administered = request_tenant_ids(request) or frozenset()
    return sorted(set(tenant_ids) & administered)


@admin.action(description="Revoke every token of the selected users")
def revoke_user_tokens(
    modeladmin: Any, request: HttpRequest, queryset: Any
) -> Response:
    def perform(user: User) -> None:
        if request.user.is_superuser:
            revoke_all_tokens(
                kind=Revocation.Kind.USER,
                subject=str(user.pk),
                label=str(user),
                actor_id=request.user.pk,
            )
            return
        member_of = Membership.objects.filter(user_id=user.pk).values_list(
            "tenant_id", flat=True
        )
        for tenant_id in _scoped(request, member_of):
            revoke_tenant_tokens(
                tenant_id=tenant_id,
                label=f"user {user}",
                actor_id=request.user.pk,
                user_id=user.pk,
            )

    return confirm_then(
        modeladmin,
        request,
        queryset,
        title="Revoke every token of these users",
        consequence=f"Their live tokens are revoked; {WITHIN_A_SECOND}",
        perform=perform,
    )


@admin.action(description="Revoke every token of the selected clients")
def revoke_client_tokens(
    modeladmin: Any, request: HttpRequest, queryset: Any
) -> Response:
    def perform(application: Any) -> None:
        if request.user.is_superuser:
            revoke_all_tokens(
                kind=Revocation.Kind.CLIENT,
                subject=application.client_id,
                label=application.name or application.client_id,
                actor_id=request.user.pk,
            )
            return
        consented = AuthorizationRecord.objects.filter(
            application_id=application.pk
        ).values_list("tenant_id", flat=True)
        for tenant_id in _scoped(request, consented):
            revoke_tenant_tokens(
                tenant_id=tenant_id,
                label=f"client {application.name or application.client_id}",
                actor_id=request.user.pk,
                client_id=application.client_id,
            )

    return confirm_then(
        modeladmin,
        request,
        queryset,
        title="Revoke every token of these clients",
        consequence=f"Their live tokens are revoked; {WITHIN_A_SECOND}",
        perform=perform,
    )


@admin.action(description="Revoke every token of the selected tenants")
def revoke_tenant_tokens_action(
    modeladmin: Any, request: HttpRequest, queryset: Any
) -> Response:
    return confirm_then(
        modeladmin,
        request,
        queryset,
        title="Revoke every token of these tenants",
        consequence=f"Every live token issued for them is revoked; {WITHIN_A_SECOND}",
        perform=lambda tenant: revoke_all_tokens(
            kind=Revocation.Kind.TENANT,
            subject=str(tenant.pk),
            label=str(tenant),
            actor_id=request.user.pk,
        ),
    )


@admin.action(description="Disable the selected tenants", permissions=["change"])
def disable_tenants(modeladmin: Any, request: HttpRequest, queryset: Any) -> Response:
    return confirm_then(
        modeladmin,
        request,
        queryset,
        title="Disable these tenants",
        consequence=f"The tenants are deactivated; {WITHIN_A_SECOND}",
        perform=lambda tenant: disable_tenant(
            tenant=Tenant.objects.get(pk=tenant.pk), actor_id=request.user.pk
        ),
    )


@admin.action(description="Disable the selected users", permissions=["superuser"])
def disable_users(modeladmin: Any, request: HttpRequest, queryset: Any) -> Response:
    return confirm_then(
        modeladmin,
        request,
        queryset,
        title="Disable these users",
        consequence=f"The accounts are deactivated in every tenant; {WITHIN_A_SECOND}",
        perform=lambda user: disable_account(user=user, actor_id=request.user.pk),
    )


@admin.action(description="Disable the selected clients", permissions=["superuser"])
def disable_clients(modeladmin: Any, request: HttpRequest, queryset: Any) -> Response:
    return confirm_then(
        modeladmin,
        request,
        queryset,
        title="Disable these clients",
        consequence=f"The clients are refused everywhere; {WITHIN_A_SECOND}",
        perform=lambda application: disable_client(
            application=application, actor_id=request.user.pk
        ),
    )

"""Users, scoped for tenant administrators.

A tenant administrator sees the members of the tenants they administer,
and only the memberships in those tenants. Account-wide powers stay with
superusers: a tenant administrator never sees or sets `is_superuser`,
`is_staff`, groups or permissions, cannot add users, and cannot change a
superuser or anyone who also belongs to a tenant they do not administer
(that user's other tenants trust the account too). `is_active` is
account-wide, so it is read-only to them as well.
"""

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db import transaction
from django.db.models import Model
from django.http import HttpRequest, HttpResponse

from accounts.models import User
from tenants.admin_audit import MASK, AuditedAdmin, audit_change
from tenants.admin_scoping import (
    TenantScopedAdmin,
    TenantScopedInline,
    request_tenant_ids,
)
from tenants.models import Membership

_ACCOUNT_WIDE = ("is_superuser", "is_staff", "groups", "user_permissions")


class MembershipInline(TenantScopedInline, admin.TabularInline):
    model = Membership
    fk_name = "user"
    extra = 0
    autocomplete_fields = ["tenant"]


@admin.register(User)
class UserAdmin(AuditedAdmin, TenantScopedAdmin, DjangoUserAdmin):
    """Users and their memberships; oauth/admin.py adds token revocation."""

    tenant_path = "memberships__tenant"
    inlines = [MembershipInline]
    list_display = ["username", "email", "is_active", "is_staff", "date_joined"]

    def get_list_display(self, request: HttpRequest) -> Any:
        if request.user.is_superuser:
            return self.list_display
        return [name for name in self.list_display if name not in _ACCOUNT_WIDE]

    def get_list_filter(self, request: HttpRequest) -> Any:
        if request.user.is_superuser:
            return super().get_list_filter(request)
        return ["is_active"]

    def get_fieldsets(self, request: HttpRequest, obj: Model | None = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.is_superuser:
            return fieldsets
        return [
            (name, {**options, "fields": _without_account_wide(options["fields"])})
            for name, options in fieldsets
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            readonly += ["is_active", "last_login", "date_joined"]
        return readonly

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return request.user.is_superuser and super().has_add_permission(request, *args)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None):
        if request.user.is_superuser or obj is None:
            return super().has_change_permission(request, obj)
        return (
            super().has_change_permission(request, obj)
            and not obj.is_superuser
            and not obj.is_staff
            and _only_in(obj, request_tenant_ids(request) or frozenset())
        )

    def user_change_password(
        self, request: HttpRequest, id: str, form_url: str = ""
    ) -> HttpResponse:
        """Django's password form, its success audited (value masked) with it."""
        with transaction.atomic():
            response = super().user_change_password(request, id, form_url)
            if request.method == "POST" and response.status_code == 302:
                audit_change(
                    request,
                    self.get_object(request, id),
                    operation="change",
                    changes={"password": {"before": MASK, "after": MASK}},
                )
        return response

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None):
        # Users are deactivated, never deleted: audit rows point at them.
        return request.user.is_superuser and super().has_delete_permission(request, obj)


def _without_account_wide(fields: Any) -> tuple[Any, ...]:
    return tuple(name for name in fields if name not in _ACCOUNT_WIDE)


def _only_in(user: Model, tenant_ids: frozenset[int]) -> bool:
    """Whether every tenant `user` belongs to is one of `tenant_ids`."""
    return not (
        Membership.objects.filter(user_id=user.pk)
        .exclude(tenant_id__in=tenant_ids)
        .exists()
    )

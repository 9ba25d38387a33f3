"""Tenants, their members, tool policy and data, scoped to what a user administers.

Every admin here is a `TenantScopedAdmin` (tenants/admin_scoping.py): a
tenant administrator sees and edits only their tenants' rows; a superuser
sees everything. Every change is audited (tenants/admin_audit.py). The tool
catalogue is shared by all tenants, so tenant
administrators may read it but only superusers change it.
"""

from typing import Any

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest, HttpResponse

from tenants.admin_actions import disable_tools
from tenants.admin_audit import AuditedAdmin
from tenants.admin_scoping import (
    ScopedTenantFilter,
    TenantScopedAdmin,
    TenantScopedInline,
    request_tenant_ids,
)
from tenants.models import Document, Membership, Report, Tenant, TenantTool, Tool

QUOTA_FIELDS = ["quota_rate", "quota_burst", "quota_client_share"]


class MembershipInline(TenantScopedInline, admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


class TenantToolInline(TenantScopedInline, admin.TabularInline):
    model = TenantTool
    extra = 0


@admin.register(Tenant)
class TenantAdmin(AuditedAdmin, TenantScopedAdmin):
    """Tenants with their members and tools; oauth/admin.py adds token revocation.

    A tenant administrator may view and change their own tenants, never add
    or delete one.
    """

    tenant_path = ""
    list_display = ["slug", "name", "is_active", "quota_rate", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["slug", "name"]
    inlines = [MembershipInline, TenantToolInline]

    def get_readonly_fields(
        self, request: HttpRequest, obj: Model | None = None
    ) -> list[str]:
        # The quota protects the other tenants from this one, so only an
        # operator (superuser) sets it, not the tenant's own administrator.
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += QUOTA_FIELDS
        return fields

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return request.user.is_superuser and super().has_add_permission(request, *args)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None):
        return request.user.is_superuser and super().has_delete_permission(request, obj)


@admin.register(Membership)
class MembershipAdmin(AuditedAdmin, TenantScopedAdmin):
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role", ("tenant", ScopedTenantFilter)]
    list_select_related = ["user", "tenant"]
    search_fields = ["user__username", "tenant__slug"]
    autocomplete_fields = ["user", "tenant"]


CATALOGUE_HELP = (
    "Rows come from the code: manage.py sync_tools (also run after migrate) "
    "writes one for each registered @tool, and would undo an edit here, so "
    "every field is read-only. An unavailable tool, whose code is gone, is in "
    "no tenant's list and cannot be called; its policy and audit history stay. "
    "A tenant gets a tool once a tenant tool policy enables it; that policy's "
    "extra scopes raise what the tenant's calls need."
)

_CODE_FIELDS = [
    "name",
    "title",
    "description",
    "required_scopes",
    "source",
    "annotations",
    "available",
]


@admin.register(Tool)
class ToolAdmin(AuditedAdmin, admin.ModelAdmin):
    """The catalogue: what the code registered, view-only to everyone.

    No one adds or deletes a row here: `sync_tools` adds them, and a
    deletion would take every tenant's policy for the tool with it (a tool
    whose code is gone is marked unavailable instead).
    """

    list_display = ["name", "title", "required_scopes", "available", "source"]
    list_filter = ["available"]
    search_fields = ["name", "title"]
    readonly_fields = _CODE_FIELDS
    fieldsets = [
        (None, {"fields": ["name", "title", "description", "required_scopes"]}),
        (
            "From the code",
            {
                "fields": ["source", "annotations", "available"],
                "description": CATALOGUE_HELP,
            },
        ),
    ]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = {"catalogue_help": CATALOGUE_HELP, **(extra_context or {})}
        return super().changelist_view(request, extra_context=context)

    def has_module_permission(self, request: HttpRequest) -> bool:
        if request.user.is_superuser:
            return super().has_module_permission(request)
        return bool(request_tenant_ids(request))

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None):
        if request.user.is_superuser:
            return super().has_view_permission(request, obj)
        return bool(request_tenant_ids(request))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None):
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None):
        return False


@admin.register(TenantTool)
class TenantToolAdmin(AuditedAdmin, TenantScopedAdmin):
    list_display = ["tenant", "tool", "enabled", "extra_scopes"]
    list_filter = ["enabled", ("tenant", ScopedTenantFilter), "tool"]
    actions = [disable_tools]
    list_select_related = ["tenant", "tool"]
    search_fields = ["tool__name", "tenant__slug"]

    def formfield_for_foreignkey(
        self, db_field: Any, request: HttpRequest, **kwargs: Any
    ) -> Any:
        if db_field.name == "tool":
            # An unavailable tool (its code is gone) cannot be given to a tenant.
            kwargs["queryset"] = Tool.objects.filter(available=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Document)
class DocumentAdmin(AuditedAdmin, TenantScopedAdmin):
    list_display = ["title", "tenant", "created_at"]
    list_filter = [("tenant", ScopedTenantFilter)]
    list_select_related = ["tenant"]
    search_fields = ["title", "body"]


@admin.register(Report)
class ReportAdmin(AuditedAdmin, TenantScopedAdmin):
    list_display = ["report_id", "title", "tenant"]
    list_filter = [("tenant", ScopedTenantFilter)]
    list_select_related = ["tenant"]
    search_fields = ["report_id", "title"]

from django.contrib import admin

from tenants.models import Document, Membership, Report, Tenant, TenantTool, Tool


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


class TenantToolInline(admin.TabularInline):
    model = TenantTool
    extra = 0


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    """Tenants with their members and tools; oauth/admin.py adds token revocation."""

    list_display = ["slug", "name", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["slug", "name"]
    inlines = [MembershipInline, TenantToolInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role", "tenant"]
    list_select_related = ["user", "tenant"]
    search_fields = ["user__username", "tenant__slug"]
    autocomplete_fields = ["user", "tenant"]


@admin.register(Tool)
class ToolAdmin(admin.ModelAdmin):
    list_display = ["name", "required_scopes", "description"]
    search_fields = ["name"]


@admin.register(TenantTool)
class TenantToolAdmin(admin.ModelAdmin):
    list_display = ["tenant", "tool", "enabled", "extra_scopes"]
    list_filter = ["enabled", "tenant", "tool"]
    list_select_related = ["tenant", "tool"]


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ["title", "tenant", "created_at"]
    list_filter = ["tenant"]
    list_select_related = ["tenant"]
    search_fields = ["title", "body"]


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = ["report_id", "title", "tenant"]
    list_filter = ["tenant"]
    list_select_related = ["tenant"]
    search_fields = ["report_id", "title"]

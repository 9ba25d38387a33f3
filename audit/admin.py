from django.contrib import admin
from django.http import HttpRequest

from audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: staff with the view permission see rows, nobody edits them."""

    list_display = [
        "occurred_at",
        "event",
        "outcome",
        "tenant",
        "user",
        "client_id",
        "tool",
        "reason",
    ]
    list_filter = ["event", "outcome", "tenant", "occurred_at"]
    list_select_related = ["tenant", "user"]
    search_fields = ["client_id", "tool", "reason", "request_id", "user__username"]
    date_hierarchy = "occurred_at"
    readonly_fields = [field.name for field in AuditEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

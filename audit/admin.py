"""The audit investigation: the operator console's read-only AuditEvent admin.

Tenant-scoped (`TenantScopedAdmin`, tenant path "tenant"): a tenant
administrator sees their tenants' rows only, and rows without a tenant are
the superuser's. Nobody adds, changes or deletes a row. The list reads at
1280 px (narrow columns, client names looked up once per page), its filters
each follow an index (audit/migrations/0004), the detail page says the
decision in words and checks the row's chain (audit/verify.py), and the
changelist links to the streaming exports (audit/admin_export.py) and the
per-tenant summary (audit/admin_summary.py).
"""

import json
from typing import Any

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator
from oauth2_provider.models import get_application_model

from audit import admin_export, admin_summary
from audit.admin_filters import (
    AuditTenantFilter,
    ClientFilter,
    DateRangeFilter,
    ScopedUserFilter,
    ToolFilter,
)
from audit.decision_words import decision_in_words
from audit.models import AuditEvent
from audit.selectors import client_names
from audit.verify import BrokenChain, ChainTooLong, verify_chain
from tenants.admin_scoping import TenantScopedAdmin, request_tenant_ids

# The detail page verifies the row's whole chain while the operator waits
# (about 1 s for 50,000 rows, hashing most of it); a longer chain is left to
# `manage.py audit_verify`.
DETAIL_VERIFY_MAX_ROWS = 50_000
REASON_CHARS = 48
HASH_PREFIX = 12


def format_time(value: Any) -> str:
    """Seconds and the time zone: "2026-12-03 09:27:49 UTC"."""
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S %Z")


class AuditChangeList(ChangeList):
    """The changelist, with the page's client names read in one query."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        rows = list(self.result_list)
        names = client_names({row.client_id for row in rows})
        for row in rows:
            row.client_name = names.get(row.client_id, "")
        self.result_list = rows


@admin.register(AuditEvent)
class AuditEventAdmin(TenantScopedAdmin):
    """Read-only for everyone; scoped to the tenants a tenant administrator runs."""

    tenant_path = "tenant"
    list_display = [
        "when",
        "event_label",
        "outcome_label",
        "tenant",
        "user",
        "client",
        "tool",
        "short_reason",
    ]
    list_display_links = ["when"]
    sortable_by = ["when"]
    list_filter = [
        ("tenant", AuditTenantFilter),
        ("user", ScopedUserFilter),
        ClientFilter,
        ToolFilter,
        "event",
        "outcome",
        DateRangeFilter,
    ]
    show_facets = admin.ShowFacets.NEVER
    list_select_related = ["tenant", "user"]
    search_fields = ["reason", "arguments", "=request_id"]
    search_help_text = "Reason or arguments (any part), or an exact request id."
    ordering = ["-occurred_at", "-id"]
    show_full_result_count = False
    list_per_page = 50
    actions = None
    fieldsets = [
        (
            "Decision",
            {
                "fields": [
                    "when",
                    "decision",
                    "event",
                    "outcome",
                    "tenant",
                    "user",
                    "client_link",
                    "tool",
                    "reason",
                    "request_id",
                    "duration_ms",
                    "source",
                ]
            },
        ),
        ("Arguments", {"fields": ["pretty_arguments"]}),
        (
            "Chain",
            {"fields": ["chain_id", "sequence", "hash_prefixes", "chain_status"]},
        ),
    ]
    readonly_fields = [
        *(field.name for field in AuditEvent._meta.fields),
        "when",
        "decision",
        "client_link",
        "pretty_arguments",
        "hash_prefixes",
        "chain_status",
        "source",
    ]

    class Media:
        css = {"all": ["audit/console-audit.css"]}

    def get_queryset(self, request: HttpRequest) -> QuerySet[AuditEvent]:
        # TenantScopedAdmin's scoping adds DISTINCT for paths through
        # to-many relations; "tenant" is a plain foreign key, and DISTINCT
        # over the jsonb arguments would sort the whole filtered set.
        queryset = super(TenantScopedAdmin, self).get_queryset(request)
        ids = request_tenant_ids(request)
        return queryset if ids is None else queryset.filter(tenant_id__in=ids)

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type:
        return AuditChangeList

    def get_urls(self) -> list[URLPattern]:
        def view(function: Any) -> Any:
            def wrapped(request: HttpRequest) -> Any:
                return function(self, request)

            return self.admin_site.admin_view(wrapped)

        info = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path(
                "export/csv/",
                view(admin_export.export_csv),
                name=f"{info}_export_csv",
            ),
            path(
                "export/jsonl/",
                view(admin_export.export_jsonl),
                name=f"{info}_export_jsonl",
            ),
            path(
                "summary/",
                view(admin_summary.summary_view),
                name=f"{info}_summary",
            ),
            *super().get_urls(),
        ]

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="time", ordering="occurred_at")
    def when(self, obj: AuditEvent) -> str:
        return format_time(obj.occurred_at)

    @admin.display(description="event", ordering="event")
    def event_label(self, obj: AuditEvent) -> str:
        return obj.get_event_display()

    @admin.display(description="outcome", ordering="outcome")
    def outcome_label(self, obj: AuditEvent) -> SafeString:
        return format_html(
            '<span class="audit-outcome audit-outcome-{}">{}</span>',
            obj.outcome,
            obj.get_outcome_display(),
        )

    @admin.display(description="client")
    def client(self, obj: AuditEvent) -> SafeString | str:
        if not obj.client_id:
            return "-"
        name = getattr(obj, "client_name", None)
        if name is None:
            name = client_names({obj.client_id}).get(obj.client_id, "")
        return format_html(
            '<span class="audit-client" title="{}">{}</span>',
            obj.client_id,
            Truncator(name or obj.client_id).chars(24),
        )

    @admin.display(description="reason")
    def short_reason(self, obj: AuditEvent) -> SafeString | str:
        if not obj.reason:
            return ""
        return format_html(
            '<span class="audit-reason" title="{}">{}</span>',
            obj.reason,
            Truncator(obj.reason).chars(REASON_CHARS),
        )

    @admin.display(description="decision")
    def decision(self, obj: AuditEvent) -> str:
        return decision_in_words(
            event=obj.event, outcome=obj.outcome, reason=obj.reason
        )

    @admin.display(description="client")
    def client_link(self, obj: AuditEvent) -> SafeString | str:
        if not obj.client_id:
            return "-"
        application = (
            get_application_model().objects.filter(client_id=obj.client_id).first()
        )
        if application is None:
            return format_html("<code>{}</code> (no such client)", obj.client_id)
        url = reverse(
            f"admin:{application._meta.app_label}_{application._meta.model_name}"
            "_change",
            args=[application.pk],
        )
        return format_html(
            '<a href="{}">{}</a> <code>{}</code>',
            url,
            application.name or obj.client_id,
            obj.client_id,
        )

    @admin.display(description="source")
    def source(self, obj: AuditEvent) -> SafeString | str:
        """The address and user agent of the web request behind the row."""
        if not obj.source_ip and not obj.user_agent:
            return "-"
        return format_html(
            '<code class="audit-source-ip">{}</code> <span class="audit-user-agent">'
            "{}</span>",
            obj.source_ip or "no address",
            obj.user_agent or "no user agent",
        )

    @admin.display(description="arguments")
    def pretty_arguments(self, obj: AuditEvent) -> SafeString:
        text = json.dumps(obj.arguments, indent=2, sort_keys=True, ensure_ascii=False)
        return format_html('<pre class="audit-arguments">{}</pre>', text)

    @admin.display(description="prev / hash")
    def hash_prefixes(self, obj: AuditEvent) -> SafeString:
        return format_html(
            '<code title="{}">{}…</code> → <code title="{}">{}…</code>',
            obj.prev_hash,
            obj.prev_hash[:HASH_PREFIX],
            obj.hash,
            obj.hash[:HASH_PREFIX],
        )

    @admin.display(description="verify this chain")
    def chain_status(self, obj: AuditEvent) -> SafeString:
        try:
            summary = verify_chain(obj.chain_id, max_rows=DETAIL_VERIFY_MAX_ROWS)
        except BrokenChain as broken:
            return format_html(
                '<strong class="audit-chain-broken">chain broken</strong>: {}',
                str(broken),
            )
        except ChainTooLong as long:
            return format_html(
                "not checked here: the chain has more than {} rows; "
                "run <code>manage.py audit_verify</code>",
                long.max_rows,
            )
        return format_html(
            '<strong class="audit-chain-ok">chain OK</strong>: {}', str(summary)
        )

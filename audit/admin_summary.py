"""The per-tenant summary: tool calls, denials and errors, top users and clients.

For each tenant the operator sees (a superuser: every tenant), counted in
the database (`values` + `annotate`, one query per table of numbers) over
the last 24 hours and the last 7 days, drawn as server-rendered SVG bar
charts: no JavaScript, nothing from elsewhere.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from audit.models import AuditEvent
from audit.selectors import client_names
from tenants.admin_scoping import request_tenant_ids
from tenants.models import Tenant

Event = AuditEvent.Event
WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}
WINDOW_TITLES = {"24h": "Last 24 hours", "7d": "Last 7 days"}
SERIES = {  # name: (event, colour)
    "calls": (Event.TOOL_CALLED, "#417690"),
    "denials": (Event.TOOL_DENIED, "#b36b00"),
    "errors": (Event.TOOL_FAILED, "#ba2121"),
}
TOP = 5


@dataclass
class TenantSummary:
    tenant: Tenant
    # window -> [(tool, {series: count})], busiest tool first
    tools: dict[str, list[tuple[str, dict[str, int]]]] = field(default_factory=dict)
    top_users: list[tuple[str, int]] = field(default_factory=list)
    top_clients: list[tuple[str, str, int]] = field(default_factory=list)
    charts: list[tuple[str, SafeString]] = field(default_factory=list)


def _tool_counts(rows: Any, now: datetime) -> Any:
    annotations = {}
    for window, span in WINDOWS.items():
        for name, (event, _) in SERIES.items():
            annotations[f"{name}_{window}"] = Count(
                "id", filter=Q(event=event, occurred_at__gte=now - span)
            )
    return (
        rows.filter(event__in=[event for event, _ in SERIES.values()])
        .values("tenant_id", "tool")
        .annotate(**annotations)
        .order_by()
    )


def summarize(*, tenant_ids: frozenset[int] | None, now: datetime) -> list:
    """A TenantSummary per visible tenant (None: every tenant), by slug."""
    tenants = Tenant.objects.order_by("slug")
    rows = AuditEvent.objects.filter(occurred_at__gte=now - WINDOWS["7d"])
    if tenant_ids is None:
        rows = rows.filter(tenant__isnull=False)
    else:
        tenants = tenants.filter(pk__in=tenant_ids)
        rows = rows.filter(tenant_id__in=tenant_ids)
    summaries = {tenant.pk: TenantSummary(tenant) for tenant in tenants}
    per_tenant: dict[int, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for row in _tool_counts(rows, now):
        for window in WINDOWS:
            counts = {name: row[f"{name}_{window}"] for name in SERIES}
            if any(counts.values()):
                per_tenant[row["tenant_id"]][window].append(
                    (row["tool"] or "-", counts)
                )
    calls = rows.filter(event=Event.TOOL_CALLED)
    users = (
        calls.filter(user__isnull=False)
        .values("tenant_id", "user__username")
        .annotate(calls=Count("id"))
        .order_by("tenant_id", "-calls", "user__username")
    )
    clients = (
        calls.exclude(client_id="")
        .values("tenant_id", "client_id")
        .annotate(calls=Count("id"))
        .order_by("tenant_id", "-calls", "client_id")
    )
    for row in users:
        summary = summaries.get(row["tenant_id"])
        if summary is not None and len(summary.top_users) < TOP:
            summary.top_users.append((row["user__username"], row["calls"]))
    top_clients: list[tuple[int, str, int]] = []
    taken: dict[int, int] = defaultdict(int)
    for row in clients:
        if taken[row["tenant_id"]] < TOP:
            taken[row["tenant_id"]] += 1
            top_clients.append((row["tenant_id"], row["client_id"], row["calls"]))
    names = client_names({client_id for _, client_id, _ in top_clients})
    for tenant_id, client_id, count in top_clients:
        if tenant_id in summaries:
            summaries[tenant_id].top_clients.append(
                (names.get(client_id, client_id), client_id, count)
            )
    for tenant_id, summary in summaries.items():
        for window in WINDOWS:
            tools = sorted(
                per_tenant[tenant_id][window],
                key=lambda item: (-sum(item[1].values()), item[0]),
            )
            summary.tools[window] = tools
            title = WINDOW_TITLES[window]
            summary.charts.append(
                (title, bar_chart(f"{summary.tenant.name}: {title.lower()}", tools))
            )
    return list(summaries.values())


LABEL_WIDTH = 150
BAR_AREA = 330
BAR_HEIGHT = 11
GROUP_GAP = 10


def bar_chart(title: str, tools: list[tuple[str, dict[str, int]]]) -> SafeString:
    """Grouped horizontal bars (calls, denials, errors) per tool, as inline SVG."""
    if not tools:
        return format_html('<p class="audit-chart-empty">No tool calls.</p>')
    most = max(max(counts.values()) for _, counts in tools) or 1
    group = BAR_HEIGHT * len(SERIES) + GROUP_GAP
    height = group * len(tools) + 24
    width = LABEL_WIDTH + BAR_AREA + 60
    parts = []
    for index, (tool, counts) in enumerate(tools):
        top = index * group
        parts.append(
            format_html(
                '<text x="{}" y="{}" text-anchor="end" class="tool">{}</text>',
                LABEL_WIDTH - 8,
                top + BAR_HEIGHT * 2,
                tool,
            )
        )
        for offset, (name, (_, colour)) in enumerate(SERIES.items()):
            value = counts[name]
            y = top + offset * BAR_HEIGHT
            length = max(round(BAR_AREA * value / most), 1 if value else 0)
            parts.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}">'
                    "<title>{}: {} {}</title></rect>",
                    LABEL_WIDTH,
                    y,
                    length,
                    BAR_HEIGHT - 2,
                    colour,
                    tool,
                    value,
                    name,
                )
            )
            if value:  # a bar with no length needs no number either
                parts.append(
                    format_html(
                        '<text x="{}" y="{}" class="value">{}</text>',
                        LABEL_WIDTH + length + 4,
                        y + BAR_HEIGHT - 3,
                        value,
                    )
                )
    legend = format_html_join(
        "",
        '<rect x="{}" y="{}" width="10" height="10" fill="{}"></rect>'
        '<text x="{}" y="{}" class="legend">{}</text>',
        (
            (
                LABEL_WIDTH + i * 90,
                height - 12,
                colour,
                LABEL_WIDTH + i * 90 + 14,
                height - 3,
                name,
            )
            for i, (name, (_, colour)) in enumerate(SERIES.items())
        ),
    )
    return format_html(
        '<svg class="audit-chart" role="img" aria-label="{}" width="{}" height="{}" '
        'viewBox="0 0 {} {}" xmlns="http://www.w3.org/2000/svg">'
        "<title>{}</title>{}{}</svg>",
        title,
        width,
        height,
        width,
        height,
        title,
        SafeString("".join(parts)),
        legend,
    )


def summary_view(model_admin: Any, request: HttpRequest) -> HttpResponse:
    """The summary page of the visible tenants (view permission required)."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    now = timezone.now()
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": "Audit summary by tenant",
        "summaries": summarize(tenant_ids=request_tenant_ids(request), now=now),
        "window_titles": WINDOW_TITLES,
        "generated_at": now,
        "media": model_admin.media,
    }
    return TemplateResponse(request, "admin/audit/auditevent/summary.html", context)

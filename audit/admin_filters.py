"""The audit changelist's filters, each limited to what the operator may see.

Tenants come from `ScopedTenantFilter`; users, clients and tools offer only
those of the visible tenants (a superuser sees all). Every filter narrows
along a column the audit indexes lead with (audit/migrations/0004).
"""

from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from oauth2_provider.models import get_application_model

from audit.models import AuditEvent
from tenants.admin_scoping import (
    ScopedTenantFilter,
    request_tenant_ids,
    scoped_choices,
)
from tenants.models import TenantTool, Tool


class AuditTenantFilter(ScopedTenantFilter):
    """Tenants; "-" (rows without a tenant) only for a superuser, who sees them.

    Shown even with a single choice: Django skips a filter without output,
    parameter and all, so a hand-written tenant id would be ignored rather
    than narrow the list (to nothing, for another tenant's id).
    """

    def has_output(self) -> bool:
        return bool(self.lookup_choices)

    @property
    def include_empty_choice(self) -> bool:
        visible = request_tenant_ids(self.request) is None
        return visible and super().include_empty_choice


class ScopedUserFilter(admin.RelatedFieldListFilter):
    """Users: the members of the visible tenants (every user, for a superuser)."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: Any):
        model = get_user_model()
        users = scoped_choices(model_admin.admin_site, request, model)
        if users is None:
            users = model.objects.all()
        users = users.order_by("username").values_list("pk", "username")
        return list(dict.fromkeys(users))


class ClientFilter(admin.SimpleListFilter):
    """Clients by name: those named in the visible tenants' rows (all, for a
    superuser).

    One EXISTS per client, each a probe of the (tenant, client_id, time)
    index: the registered clients are few next to the audit rows.
    """

    title = "client"
    parameter_name = "client_id"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        ids = request_tenant_ids(request)
        clients = get_application_model().objects.all()
        if ids is not None:
            named = AuditEvent.objects.filter(
                tenant_id__in=ids, client_id=OuterRef("client_id")
            )
            clients = clients.filter(Exists(named))
        pairs = clients.order_by("name", "client_id").values_list("client_id", "name")
        return [(client_id, name or client_id) for client_id, name in pairs]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet:
        value = self.value()
        return queryset.filter(client_id=value) if value else queryset


class ToolFilter(admin.SimpleListFilter):
    """Tools: those enabled for the visible tenants (the catalogue, for a superuser)."""

    title = "tool"
    parameter_name = "tool"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        ids = request_tenant_ids(request)
        if ids is None:
            names = Tool.objects.values_list("name", flat=True)
        else:
            names = TenantTool.objects.filter(tenant_id__in=ids).values_list(
                "tool__name", flat=True
            )
        return [(name, name) for name in sorted(set(names))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet:
        value = self.value()
        return queryset.filter(tool=value) if value else queryset


def _parse_day(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


class DateRangeFilter(admin.ListFilter):
    """Occurred from / to (whole days, in the site's time zone, both included)."""

    title = "date range"
    template = "admin/audit/date_range_filter.html"
    parameter_from = "occurred_from"
    parameter_to = "occurred_to"

    def __init__(
        self, request: HttpRequest, params: dict[str, Any], model: Any, model_admin: Any
    ) -> None:
        super().__init__(request, params, model, model_admin)
        for name in (self.parameter_from, self.parameter_to):
            if name in params:
                value = params.pop(name)
                self.used_parameters[name] = (
                    value[-1] if isinstance(value, list) else value
                )
        self.day_from = _parse_day(self.used_parameters.get(self.parameter_from, ""))
        self.day_to = _parse_day(self.used_parameters.get(self.parameter_to, ""))

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str]:
        return [self.parameter_from, self.parameter_to]

    def choices(self, changelist: Any) -> list[dict[str, Any]]:
        """The form's values and the query string's other parameters to keep."""
        keep = changelist.get_filters_params()
        for name in (*self.expected_parameters(), "p"):
            keep.pop(name, None)
        hidden = [
            (name, item)
            for name, value in keep.items()
            for item in (value if isinstance(value, list) else [value])
        ]
        if changelist.query:
            hidden.append(("q", changelist.query))
        return [
            {
                "from": self.used_parameters.get(self.parameter_from, ""),
                "to": self.used_parameters.get(self.parameter_to, ""),
                "hidden": hidden,
                "clear": changelist.get_query_string(remove=self.expected_parameters()),
            }
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet:
        zone = timezone.get_current_timezone()
        if self.day_from is not None:
            start = datetime.combine(self.day_from, time.min, tzinfo=zone)
            queryset = queryset.filter(occurred_at__gte=start)
        if self.day_to is not None:
            end = datetime.combine(
                self.day_to + timedelta(days=1), time.min, tzinfo=zone
            )
            queryset = queryset.filter(occurred_at__lt=end)
        return queryset

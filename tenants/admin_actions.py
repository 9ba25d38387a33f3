"""Admin actions that ask first: the operator console's kill switches.

`confirm_then` shows the selected rows and what will happen, and runs the
action only when that page is posted back (`post=yes`), like Django's own
bulk delete. The rows are the admin's own queryset, so a tenant
administrator can only ever act on their tenants' rows.
"""

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from tenants.services import disable_tenant_tool

TEMPLATE = "admin/kill_switch_confirmation.html"


def confirm_then(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet[Any],
    *,
    title: str,
    consequence: str,
    perform: Callable[[Model], object],
) -> TemplateResponse | None:
    """The confirmation page, or (once confirmed) `perform` on every row."""
    if request.POST.get("post") != "yes":
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": title,
            "consequence": consequence,
            "objects": list(queryset),
            "opts": modeladmin.model._meta,
            "action_name": request.POST.get("action", ""),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        request.current_app = modeladmin.admin_site.name
        return TemplateResponse(request, TEMPLATE, context)
    count = 0
    for obj in queryset:
        perform(obj)
        count += 1
    modeladmin.message_user(request, f"{title}: {count} done.", messages.SUCCESS)
    return None


@admin.action(description="Disable the selected tools for their tenants")
def disable_tools(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Any]
) -> TemplateResponse | None:
    return confirm_then(
        modeladmin,
        request,
        queryset.select_related("tenant", "tool"),
        title="Disable tools for their tenants",
        consequence=(
            "These tools leave tools/list and their calls are refused, at "
            "every MCP worker, within a second."
        ),
        perform=lambda policy: disable_tenant_tool(
            tenant_tool=policy, actor_id=request.user.pk
        ),
    )

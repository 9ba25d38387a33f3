"""Operator writes to tenant policy. Each function owns its transaction.

The change and its `admin_action` audit row commit together (STYLE §5).
"""

from django.db import transaction

from audit.models import AuditEvent
from audit.services import record_event
from tenants.models import TenantTool


@transaction.atomic(durable=True)
def disable_tenant_tool(*, tenant_tool: TenantTool, actor_id: int | None) -> bool:
    """Kill switch: take one tool away from one tenant; False if already off.

    Sets `enabled=False` under a row lock and records the `admin_action`
    audit row in the same durable transaction. Every MCP worker re-reads a
    tenant's policy at least every MCP_POLICY_CACHE_SECONDS (one second by
    default, mcpserver/policy.py), after which the tool leaves `tools/list`
    and a `tools/call` of it reads as an unknown tool.
    """
    locked = (
        TenantTool.objects.select_for_update()
        .select_related("tenant", "tool")
        .get(pk=tenant_tool.pk)
    )
    if not locked.enabled:
        return False
    locked.enabled = False
    locked.save(update_fields=["enabled"])
    record_event(
        event=AuditEvent.Event.ADMIN_ACTION,
        user_id=actor_id,
        tenant_id=locked.tenant_id,
        tool=locked.tool.name,
        reason=f"disabled tool {locked.tool} for tenant {locked.tenant}",
    )
    return True

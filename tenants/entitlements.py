"""What a membership entitles a login to: the only source of granted scopes.

Granted scopes = requested ∩ entitled (DESIGN invariant 4). A client's
registration or request never adds to this.
"""

from django.db.models import QuerySet

from tenants.models import SCOPE_ADMIN, SCOPE_TOOLS_CALL, Membership

ROLE_SCOPES: dict[str, frozenset[str]] = {
    Membership.Role.MEMBER: frozenset({SCOPE_TOOLS_CALL}),
    Membership.Role.ADMIN: frozenset({SCOPE_TOOLS_CALL, SCOPE_ADMIN}),
}


def entitled_scopes(role: str) -> frozenset[str]:
    """Return the scopes a membership with `role` may be granted (none if unknown)."""
    return ROLE_SCOPES.get(role, frozenset())


def list_active_memberships(*, user_id: int) -> QuerySet[Membership]:
    """The user's memberships in active tenants, tenant loaded, by tenant slug."""
    return (
        Membership.objects.filter(
            user_id=user_id, user__is_active=True, tenant__is_active=True
        )
        .select_related("tenant")
        .order_by("tenant__slug")
    )


def get_active_membership(*, user_id: int, tenant_id: int) -> Membership | None:
    """The membership of an active user in an active tenant, or None."""
    return list_active_memberships(user_id=user_id).filter(tenant_id=tenant_id).first()

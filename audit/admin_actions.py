"""Operator actions taken in the admin that stop live tokens.

Each runs in the admin's save transaction: the change, its revocation-feed
entry and its audit row commit together.
"""

from typing import Any

from audit.models import AuditEvent
from audit.services import record_event
from oauth.models import Revocation
from oauth.tokens import revoke_subject


def record_deactivation(
    *,
    kind: str,
    subject: str,
    label: str,
    actor_id: int | None,
    tenant_id: int | None = None,
) -> None:
    """Refuse every live token of a disabled user, tenant or client, and audit it."""
    revoke_subject(kind=kind, subject=subject, reason=f"{kind} disabled in the admin")
    record_event(
        event=AuditEvent.Event.ADMIN_ACTION,
        user_id=actor_id,
        tenant_id=tenant_id,
        client_id=subject if kind == Revocation.Kind.CLIENT else "",
        reason=f"disabled {kind} {label}; its live tokens are revoked",
    )


class RevokeOnDeactivationMixin:
    """ModelAdmin mixin: unticking `is_active` revokes the object's live tokens.

    The subject is the object's pk as a string, as the token claims carry it
    (`sub` for users, `tenant_id` for tenants).
    """

    revocation_kind: str

    def save_model(self, request: Any, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and not obj.is_active:
            is_tenant = self.revocation_kind == Revocation.Kind.TENANT
            record_deactivation(
                kind=self.revocation_kind,
                subject=str(obj.pk),
                label=str(obj),
                actor_id=request.user.pk,
                tenant_id=obj.pk if is_tenant else None,
            )

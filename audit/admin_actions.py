"""Operator actions taken in the admin that stop live tokens.

Each runs in the admin's save transaction: the change, its revocation-feed
entry and its audit row commit together.
"""

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

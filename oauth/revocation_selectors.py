"""What refuses live access tokens, read for every resource server.

One query logic for both trust sources: the in-process poll of a combined
server (mcpserver/revocations.py) and the revocation feed a separate
resource server reads over HTTP (oauth/views_feed.py), so both refuse
exactly the same tokens.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone

from oauth.models import ClientProfile, Revocation
from tenants.models import Tenant

LOOKBACK = timedelta(seconds=30)
"""Incremental reads re-read entries this recent, whatever their id.

PostgreSQL ids are not committed in order: a slow transaction can commit id
41 after id 42 was read. Re-reading a recent window (and a full reload every
FULL_RELOAD_SECONDS) catches such entries.
"""
FULL_RELOAD_SECONDS = 30.0


@dataclass(frozen=True)
class RevocationRow:
    id: int
    kind: str
    subject: str
    created_at: float
    expires_at: float
    tenant_id: int | None = None


@dataclass(frozen=True)
class DisabledSubjects:
    """Users, tenants (by pk) and clients (by client_id) refused outright."""

    users: frozenset[int]
    tenants: frozenset[int]
    clients: frozenset[str]


def load_revocations(*, after_id: int | None) -> list[RevocationRow]:
    """Return unexpired feed entries: all, or (incremental) the new ones (sync, DB).

    Incremental reads return entries with an id above `after_id` and every
    entry created within the look-back window.
    """
    now = timezone.now()
    entries = Revocation.objects.filter(expires_at__gt=now)
    if after_id is not None:
        entries = entries.filter(Q(id__gt=after_id) | Q(created_at__gte=now - LOOKBACK))
    return [
        RevocationRow(
            id=entry.id,
            kind=entry.kind,
            subject=entry.subject,
            created_at=entry.created_at.timestamp(),
            expires_at=entry.expires_at.timestamp(),
            tenant_id=entry.tenant_id,
        )
        for entry in entries.only(
            "id", "kind", "subject", "created_at", "expires_at", "tenant_id"
        )
    ]


def load_disabled_subjects() -> DisabledSubjects:
    """Inactive users and tenants, disabled clients (sync, DB; three queries).

    The same states the in-process subject status refuses
    (mcpserver/subject_status.py): `is_active` false on a user or tenant,
    `is_disabled` on a client's profile.
    """
    users = get_user_model().objects.filter(is_active=False)
    tenants = Tenant.objects.filter(is_active=False)
    clients = ClientProfile.objects.filter(is_disabled=True)
    return DisabledSubjects(
        users=frozenset(users.values_list("pk", flat=True)),
        tenants=frozenset(tenants.values_list("pk", flat=True)),
        clients=frozenset(clients.values_list("application__client_id", flat=True)),
    )

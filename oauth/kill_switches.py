"""Kill switches: writes that stop a user, client or tenant at once.

The operator console's actions call these. Each is a durable use case: the
change, the revocation-feed entries and the `admin_action` audit row commit
together, and every MCP worker refuses what they stop within a second
(mcpserver/revocations.py polls the feed and the subjects' status).
Kept apart from oauth/services.py, which holds the authorization server's
own flows, so that neither module grows past a screenful of concerns.
"""

from django.db import transaction
from django.db.models import QuerySet
from oauth2_provider.models import Application, RefreshToken

from accounts.models import User
from audit.models import AuditEvent
from audit.services import record_event
from oauth.models import AuthorizationRecord, ClientProfile, Revocation
from oauth.selectors import tenant_access_tokens, tenant_token_families
from oauth.services import record_deactivation, revoke_access_tokens_at_resource
from oauth.tokens import revoke_subject
from tenants.models import Tenant


def _revoke_refresh_tokens(refresh: QuerySet[RefreshToken]) -> None:
    """Revoke the live refresh tokens in `refresh`, family by family."""
    live = refresh.filter(revoked__isnull=True)
    families = set(live.values_list("token_family", flat=True))
    for family in families - {None}:
        RefreshToken.revoke_family(family)
    for token in live.filter(token_family__isnull=True):
        token.revoke()


@transaction.atomic(durable=True)
def revoke_all_tokens(
    *, kind: Revocation.Kind, subject: str, label: str, actor_id: int | None
) -> None:
    """Kill switch: refuse every token of a user, client or tenant, everywhere.

    `subject` is what the tokens carry (a user's or tenant's pk as a string,
    a client's client_id). Live refresh tokens are revoked, so nothing new
    is minted from them, and a feed entry makes every MCP worker refuse the
    subject's access tokens issued until now within a second. The
    `admin_action` audit row commits in the same (durable) transaction.
    """
    refresh = RefreshToken.objects.all()
    if kind == Revocation.Kind.USER:
        refresh = refresh.filter(user_id=int(subject))
    elif kind == Revocation.Kind.CLIENT:
        refresh = refresh.filter(application__client_id=subject)
    elif kind == Revocation.Kind.TENANT:
        families = tenant_token_families(tenant_ids=[int(subject)])
        refresh = refresh.filter(token_family__in=families)
    else:
        raise ValueError(f"not a subject kind: {kind}")
    _revoke_refresh_tokens(refresh)
    revoke_subject(kind=kind, subject=subject, reason=f"{kind} revoked in the admin")
    record_event(
        event=AuditEvent.Event.ADMIN_ACTION,
        user_id=actor_id,
        tenant_id=int(subject) if kind == Revocation.Kind.TENANT else None,
        client_id=subject if kind == Revocation.Kind.CLIENT else "",
        reason=f"revoked every token of {kind} {label}",
    )


@transaction.atomic(durable=True)
def revoke_tenant_tokens(
    *,
    tenant_id: int,
    label: str,
    actor_id: int | None,
    user_id: int | None = None,
    client_id: str | None = None,
) -> int:
    """Kill switch: the tokens a user or client holds for one tenant only.

    Every stored, unexpired access token whose JWT says `tenant_id` (and
    belongs to `user_id` and/or `client_id`) goes on the feed by jti, and
    for a user or a client a feed entry limited to `tenant_id` also refuses
    the tokens whose rows are gone (superseded by a refresh); every MCP
    worker honours both within a second. The refresh-token families of
    that tenant's consents are revoked; tokens for other tenants are
    untouched (what a tenant administrator may stop). Returns how many
    stored access tokens were refused.
    Durable: the `admin_action` audit row commits with the revocation.
    """
    tokens = tenant_access_tokens(
        tenant_id=tenant_id, user_id=user_id, client_id=client_id
    )
    count = revoke_access_tokens_at_resource(tokens, reason="revoked in the admin")
    if (user_id is None) != (client_id is None):
        revoke_subject(
            kind=Revocation.Kind.USER
            if user_id is not None
            else Revocation.Kind.CLIENT,
            subject=str(user_id) if user_id is not None else str(client_id),
            tenant_id=tenant_id,
            reason="revoked in the admin for one tenant",
        )
    records = AuthorizationRecord.objects.filter(tenant_id=tenant_id)
    if user_id is not None:
        records = records.filter(user_id=user_id)
    if client_id is not None:
        records = records.filter(application__client_id=client_id)
    families = records.filter(token_family__isnull=False).values("token_family")
    _revoke_refresh_tokens(RefreshToken.objects.filter(token_family__in=families))
    record_event(
        event=AuditEvent.Event.ADMIN_ACTION,
        user_id=actor_id,
        tenant_id=tenant_id,
        client_id=client_id or "",
        reason=f"revoked the tokens of {label} for this tenant ({count} access)",
    )
    return count


@transaction.atomic(durable=True)
def disable_account(*, user: User, actor_id: int | None) -> bool:
    """Kill switch: deactivate `user` and refuse their live tokens; False if inactive.

    Durable; the feed entry and audit row come from `record_deactivation`.
    """
    locked = User.objects.select_for_update().get(pk=user.pk)
    if not locked.is_active:
        return False
    locked.is_active = False
    locked.save(update_fields=["is_active"])
    record_deactivation(
        kind=Revocation.Kind.USER,
        subject=str(locked.pk),
        label=str(locked),
        actor_id=actor_id,
    )
    return True


@transaction.atomic(durable=True)
def disable_tenant(*, tenant: Tenant, actor_id: int | None) -> bool:
    """Kill switch: deactivate `tenant`, refuse its tokens; False if inactive.

    Durable; the feed entry and audit row come from `record_deactivation`.
    """
    locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
    if not locked.is_active:
        return False
    locked.is_active = False
    locked.save(update_fields=["is_active"])
    record_deactivation(
        kind=Revocation.Kind.TENANT,
        subject=str(locked.pk),
        label=str(locked),
        actor_id=actor_id,
        tenant_id=locked.pk,
    )
    return True


@transaction.atomic(durable=True)
def disable_client(*, application: Application, actor_id: int | None) -> bool:
    """Kill switch: mark a client disabled and refuse its live tokens.

    Returns False if it already was. Durable, audited by `record_deactivation`.
    """
    profile, _ = ClientProfile.objects.select_for_update().get_or_create(
        application=application
    )
    if profile.is_disabled:
        return False
    profile.is_disabled = True
    profile.save(update_fields=["is_disabled"])
    record_deactivation(
        kind=Revocation.Kind.CLIENT,
        subject=application.client_id,
        label=application.name or application.client_id,
        actor_id=actor_id,
    )
    return True

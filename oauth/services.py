"""Writes of the authorization server that DOT does not do for us.

Each function either owns its transaction (durable entry points) or joins
the caller's (helpers), as its docstring says; audit rows are written in
the same transaction as the change they record.
"""

import uuid
from datetime import UTC, datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application, RefreshToken

from audit.models import AuditEvent
from audit.services import record_event
from oauth.models import (
    AuthorizationRecord,
    ClientProfile,
    IssuedAccessToken,
    Revocation,
)
from oauth.token_hashing import stored_claims
from oauth.tokens import revoke_jti, revoke_subject


def jti_of(stored: str) -> tuple[str, datetime | None] | None:
    """Return (jti, exp) of a stored access token, or None if it has none.

    `stored` is the row's `token` column: the keyed hash and the JWT's
    claims (oauth/token_hashing.py), which this server signed when it
    issued the token; only its identifiers are read.
    """
    claims = stored_claims(stored)
    jti = claims.get("jti") if claims else None
    if not isinstance(jti, str):
        return None
    exp = claims.get("exp")
    expires = datetime.fromtimestamp(exp, tz=UTC) if isinstance(exp, int) else None
    return jti, expires


def revoke_access_tokens_at_resource(tokens: list[AccessToken], *, reason: str) -> int:
    """Put the JWTs of `tokens` on the revocation feed (joins a transaction)."""
    count = 0
    for token in tokens:
        ident = jti_of(token.token)
        if ident is not None:
            revoke_jti(jti=ident[0], expires_at=ident[1], reason=reason)
            count += 1
    return count


def family_access_tokens(family: uuid.UUID) -> list[AccessToken]:
    """Every stored access token issued in a refresh-token family."""
    return list(
        AccessToken.objects.filter(
            Q(refresh_token__token_family=family)
            | Q(source_refresh_token__token_family=family)
        ).distinct()
    )


@transaction.atomic
def revoke_family(
    *,
    family: uuid.UUID,
    event: str,
    reason: str,
    client_id: str,
    user_id: int | None,
    tenant_id: int | None,
    tokens: list[AccessToken] | None = None,
) -> None:
    """Revoke a whole token family everywhere and audit why (joins a transaction).

    Refresh tokens are revoked, stored access tokens deleted, and the JWTs
    put on the revocation feed so /mcp refuses them within a second: the
    stored ones (`tokens` may be collected by the caller before DOT deleted
    them) and every unexpired one the issuance ledger knows for the family,
    including those an earlier rotation superseded, whose rows are gone.
    """
    live = family_access_tokens(family) if tokens is None else tokens
    revoked = revoke_access_tokens_at_resource(live, reason=event)
    record = AuthorizationRecord.objects.filter(token_family=family).first()
    if record is not None:
        revoked += revoke_issued_tokens(record=record, reason=event)
    RefreshToken.revoke_family(family)
    record_event(
        event=event,
        outcome=AuditEvent.Outcome.DENIED,
        tenant_id=tenant_id,
        user_id=user_id,
        client_id=client_id,
        reason=f"{reason}; family {family} revoked ({revoked} access tokens)",
    )


@transaction.atomic
def record_deactivation(
    *,
    kind: Revocation.Kind,
    subject: str,
    label: str,
    actor_id: int | None,
    tenant_id: int | None = None,
) -> None:
    """Refuse every live token of a disabled user, tenant or client, and audit it.

    `subject` is what the tokens carry: a user's or tenant's pk as a string
    (`sub`, `tenant_id`), or a client's client_id. The revocation-feed entry
    and the `admin_action` audit row are written in the caller's transaction
    (the admin's save), so they commit with the change that disabled it.
    """
    revoke_subject(kind=kind, subject=subject, reason=f"{kind} disabled in the admin")
    record_event(
        event=AuditEvent.Event.ADMIN_ACTION,
        user_id=actor_id,
        tenant_id=tenant_id,
        client_id=subject if kind == Revocation.Kind.CLIENT else "",
        reason=f"disabled {kind} {label}; its live tokens are revoked",
    )


def record_issued_access_token(
    *, record_id: int, jti: str, expires_at: datetime
) -> None:
    """Note that consent `record_id` issued the token `jti` (joins a transaction).

    Also prunes expired ledger rows: nothing needs them any more.
    """
    IssuedAccessToken.objects.create(
        authorization_id=record_id, jti=jti, expires_at=expires_at
    )
    IssuedAccessToken.objects.filter(expires_at__lt=timezone.now()).delete()


def revoke_issued_tokens(*, record: AuthorizationRecord, reason: str) -> int:
    """Stop everything one consent issued (joins a transaction); return a count.

    Every unexpired access token it issued (superseded ones included) goes
    on the revocation feed by jti, its refresh-token family is revoked and
    the family's access-token rows deleted. Returns how many jtis were fed
    (those already on the feed are not fed twice).
    """
    issued = IssuedAccessToken.objects.filter(
        authorization=record, expires_at__gt=timezone.now()
    ).values_list("jti", "expires_at")
    jtis = dict(issued)
    fed = Revocation.objects.filter(kind=Revocation.Kind.JTI, subject__in=list(jtis))
    for jti in fed.values_list("subject", flat=True):
        jtis.pop(jti, None)
    for jti, expires_at in jtis.items():
        revoke_jti(jti=jti, expires_at=expires_at, reason=reason)
    if record.token_family is not None:
        RefreshToken.revoke_family(record.token_family)
    return len(jtis)


@transaction.atomic
def handle_code_reuse(*, record: AuthorizationRecord, client_id: str) -> None:
    """A redeemed code came back: revoke what it issued and audit it.

    Whichever redemption won: the flag is set first, with an UPDATE that
    waits for the winner's issuance transaction (it holds the record's row
    lock, see `lock_for_issuance`), so either the tokens it issued are
    committed and revoked here, or the winner sees the flag and issues
    nothing.
    """
    AuthorizationRecord.objects.filter(pk=record.pk).update(
        reuse_detected_at=timezone.now()
    )
    record = AuthorizationRecord.objects.get(pk=record.pk)
    count = revoke_issued_tokens(record=record, reason="code_reuse_detected")
    record_event(
        event=AuditEvent.Event.CODE_REUSE_DETECTED,
        outcome=AuditEvent.Outcome.DENIED,
        tenant_id=record.tenant_id,
        user_id=record.user_id,
        client_id=client_id,
        reason=(
            f"authorization code presented again; {count} access tokens "
            f"refused at /mcp"
            + (f", family {record.token_family} revoked" if record.token_family else "")
        ),
    )


def lock_for_issuance(*, record_id: int) -> bool:
    """Lock consent `record_id` for a token issuance; False if it was replayed.

    Call inside the issuance's transaction: the row lock makes a concurrent
    `handle_code_reuse` wait until the issued tokens are committed.
    """
    record = AuthorizationRecord.objects.select_for_update().get(pk=record_id)
    return record.reuse_detected_at is None


def claim_code(*, record: AuthorizationRecord) -> bool:
    """Mark a code redeemed; True for exactly one caller, however concurrent."""
    updated = AuthorizationRecord.objects.filter(
        pk=record.pk, redeemed_at__isnull=True
    ).update(redeemed_at=timezone.now())
    return updated == 1


def mark_client_used(application: Application) -> None:
    """Note a client's first token, which ends its unused-registration expiry."""
    ClientProfile.objects.filter(
        application=application, first_used_at__isnull=True
    ).update(first_used_at=timezone.now(), expires_at=None)


@transaction.atomic(durable=True)
def delete_expired_registrations() -> int:
    """Delete dynamic registrations never used before their expiry; return how many."""
    expired = Application.objects.filter(
        profile__first_used_at__isnull=True,
        profile__expires_at__lte=timezone.now(),
    )
    count = 0
    for application in expired:
        record_event(
            event=AuditEvent.Event.ADMIN_ACTION,
            client_id=application.client_id,
            reason="unused dynamic registration expired and deleted",
        )
        application.delete()
        count += 1
    return count


@transaction.atomic(durable=True)
def revoke_client_authorization(*, user_id: int, application: Application) -> int:
    """A user withdraws a client's access: its tokens for them stop everywhere.

    Every unexpired access token `application` holds for `user_id` goes on
    the revocation feed by jti (every MCP worker refuses it within a
    second) and its row is deleted; every live refresh token of the pair is
    revoked with its whole family, so nothing new can be minted from it.
    The client's tokens for other users are untouched. A `grant` feed entry
    for the pair also refuses the access tokens a refresh already superseded
    (their rows are gone). The `token_revoked` audit
    row commits in the same (durable) transaction. Returns how many access
    tokens were put on the feed.
    """
    access = AccessToken.objects.filter(user_id=user_id, application=application)
    refresh = RefreshToken.objects.filter(
        user_id=user_id, application=application, revoked__isnull=True
    )
    count = revoke_access_tokens_at_resource(
        list(access.filter(expires__gt=timezone.now())),
        reason="revoked by the user",
    )
    families = set(refresh.values_list("token_family", flat=True))
    for family in families - {None}:
        RefreshToken.revoke_family(family)
    for token in refresh.filter(token_family__isnull=True):
        token.revoke()
    access.delete()
    revoke_subject(
        kind=Revocation.Kind.GRANT,
        subject=Revocation.grant_subject(
            user_id=user_id, client_id=application.client_id
        ),
        reason="revoked by the user",
    )
    record_event(
        event=AuditEvent.Event.TOKEN_REVOKED,
        user_id=user_id,
        client_id=application.client_id,
        reason=(
            f"the user revoked {application.name or application.client_id} "
            f"from their account page; {count} access tokens refused at /mcp"
        ),
    )
    return count

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

APPEND_ONLY = "AuditEvent is append-only."


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs: object) -> int:
        raise TypeError(APPEND_ONLY)

    def delete(self) -> tuple[int, dict[str, int]]:
        raise TypeError(APPEND_ONLY)

    def bulk_update(self, *args: object, **kwargs: object) -> int:
        raise TypeError(APPEND_ONLY)


class AuditEvent(models.Model):
    """One append-only, hash-chained audit record.

    Rows are never updated or deleted: the ORM refuses it here and the
    database refuses it with triggers (audit/triggers.py). Each row belongs
    to one chain (`chain_id`), has the next `sequence` in it, and its `hash`
    covers its canonical content and `prev_hash`, the previous row's hash
    (audit/chain.py); `manage.py audit_verify` checks every chain.
    """

    class Event(models.TextChoices):
        TOOL_CALLED = "tool_called", "Tool called"
        TOOL_DENIED = "tool_denied", "Tool denied"
        TOOL_FAILED = "tool_failed", "Tool failed"
        TOKEN_ISSUED = "token_issued", "Token issued"
        TOKEN_REFRESHED = "token_refreshed", "Token refreshed"
        TOKEN_REVOKED = "token_revoked", "Token revoked"
        CODE_REUSE_DETECTED = "code_reuse_detected", "Code reuse detected"
        REFRESH_REUSE_DETECTED = "refresh_reuse_detected", "Refresh reuse detected"
        CLIENT_REGISTERED = "client_registered", "Client registered"
        LOGIN_SUCCEEDED = "login_succeeded", "Login succeeded"
        LOGIN_FAILED = "login_failed", "Login failed"
        CONSENT_GRANTED = "consent_granted", "Consent granted"
        CONSENT_DENIED = "consent_denied", "Consent denied"
        ADMIN_ACTION = "admin_action", "Admin action"

    class Outcome(models.TextChoices):
        OK = "ok", "OK"
        DENIED = "denied", "Denied"
        ERROR = "error", "Error"

    occurred_at = models.DateTimeField(default=timezone.now, editable=False)
    event = models.CharField(max_length=32, choices=Event)
    outcome = models.CharField(max_length=16, choices=Outcome, default=Outcome.OK)
    tenant = models.ForeignKey(
        "tenants.Tenant",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    user = models.ForeignKey(  # null: no authenticated user (e.g. a failed login)
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    client_id = models.CharField(max_length=255, blank=True)
    tool = models.CharField(max_length=64, blank=True)
    arguments = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    reason = models.TextField(blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    # Where a web event came from (audit/request_source.py); null for tool
    # calls and for rows older than these columns. Nullable without a
    # default so adding them is a plain ALTER TABLE ADD COLUMN on SQLite,
    # which keeps the append-only triggers (a table rebuild would drop them).
    source_ip = models.CharField(max_length=45, null=True, blank=True)  # noqa: DJ001
    user_agent = models.CharField(max_length=256, null=True, blank=True)  # noqa: DJ001

    chain_id = models.CharField(max_length=96, editable=False)
    sequence = models.BigIntegerField(editable=False)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["chain_id", "sequence"],
                name="%(app_label)s_%(class)s_unique_chain_seq",
            ),
        ]
        indexes = [
            models.Index(
                fields=["tenant", "event", "occurred_at"],
                name="audit_tenant_event_time",
            ),
            models.Index(fields=["occurred_at"], name="audit_time"),
            # The operator console's filters (audit/admin_filters.py): each
            # narrows by tenant (a tenant administrator always does) and
            # reads newest first.
            models.Index(fields=["tenant", "occurred_at"], name="audit_tenant_time"),
            models.Index(
                fields=["tenant", "tool", "occurred_at"], name="audit_tenant_tool_time"
            ),
            models.Index(
                fields=["tenant", "client_id", "occurred_at"],
                name="audit_tenant_client_time",
            ),
            models.Index(
                fields=["tenant", "user", "occurred_at"], name="audit_tenant_user_time"
            ),
            models.Index(fields=["event", "occurred_at"], name="audit_event_time"),
        ]

    def __str__(self) -> str:
        return f"{self.event} @ {self.occurred_at:%Y-%m-%d %H:%M:%S}"

    def save(self, *args: object, **kwargs: object) -> None:
        if not self._state.adding:
            raise TypeError(APPEND_ONLY)
        super().save(*args, **kwargs)

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise TypeError(APPEND_ONLY)


class AuditChain(models.Model):
    """The head of one hash chain: its last sequence number and hash.

    Appending to a chain locks this row (SELECT ... FOR UPDATE) inside the
    transaction that inserts the events, so a rolled-back append leaves the
    head as it was. Each writer process appends to a chain of its own, so
    processes never wait on each other's chain.
    """

    chain_id = models.CharField(max_length=96, primary_key=True)
    last_sequence = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return f"{self.chain_id} @ {self.last_sequence}"

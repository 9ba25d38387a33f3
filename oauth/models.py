from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone
from oauth2_provider.settings import oauth2_settings


class SigningKey(models.Model):
    """A key that signs access-token JWTs, kept in the database.

    The private key is stored encrypted (oauth/keys.py, keyed from
    DJANGO_SECRET_KEY). A key is published in the JWKS from its creation;
    it signs from `activates_at` (the newest key whose activation time has
    come signs), so resource servers have fetched it before its first
    token. `is_active` marks the newest key (at most one): the one signing,
    or about to. A key's `retired_at` is its successor's `activates_at`;
    it stays published until then plus the longest access-token lifetime,
    so live tokens keep verifying, unless `withdrawn_at` is set (a
    compromised key, `rotate_signing_key --immediately`).
    """

    class Algorithm(models.TextChoices):
        RS256 = "RS256", "RS256"
        ES256 = "ES256", "ES256"

    kid = models.CharField(max_length=64, unique=True, editable=False)
    algorithm = models.CharField(
        max_length=8, choices=Algorithm, default=Algorithm.RS256, editable=False
    )
    private_key_encrypted = models.TextField(editable=False)
    public_jwk = models.JSONField(editable=False)
    is_active = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    retired_at = models.DateTimeField(null=True, blank=True, editable=False)
    activates_at = models.DateTimeField(default=timezone.now, editable=False)
    withdrawn_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"],
                condition=models.Q(is_active=True),
                name="%(app_label)s_%(class)s_one_active",
            ),
        ]

    def __str__(self) -> str:
        state = "current" if self.is_active else "retired"
        return f"{self.kid} ({self.algorithm}, {state})"


class ResourceServer(models.Model):
    """A resource server this authorization server issues tokens for.

    Besides this server's own /mcp, a `resource` (RFC 8707) is accepted at
    /authorize and /token only if it equals the `resource` of an enabled
    row; the token's `aud` is then exactly that URL. `resource` is kept in
    canonical form (oauth/resource_servers.py). `application` is the
    confidential client the resource server authenticates with (its
    profile says `is_resource_server`), e.g. to read the revocation feed.
    """

    resource = models.CharField(
        max_length=255, unique=True, help_text="Canonical resource URL (the aud)."
    )
    name = models.CharField(max_length=100, blank=True)
    application = models.OneToOneField(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        on_delete=models.PROTECT,
        related_name="resource_server",
    )
    enabled = models.BooleanField(
        default=True, help_text="Issue tokens for this resource."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["resource"]

    def __str__(self) -> str:
        return self.name or self.resource


class ClientProfile(models.Model):
    """What the authorization server knows about a client beyond DOT's row.

    One per DOT Application. `is_resource_server` is set by an operator in
    the admin and is the only way a client may call /introspect.
    """

    class Registration(models.TextChoices):
        DYNAMIC = "dynamic", "Dynamic registration (unverified)"
        METADATA_DOCUMENT = "metadata_document", "Client ID metadata document"
        ADMIN = "admin", "Created by an operator"

    application = models.OneToOneField(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        on_delete=models.CASCADE,
        related_name="profile",
    )
    registration = models.CharField(
        max_length=32, choices=Registration, default=Registration.ADMIN
    )
    is_resource_server = models.BooleanField(
        default=False, help_text="May call the introspection endpoint."
    )
    is_disabled = models.BooleanField(
        default=False,
        help_text="Refuse this client everywhere; its live tokens stop working "
        "at /mcp within a second.",
    )
    registered_from = models.CharField(
        max_length=64, blank=True, help_text="Address the registration came from."
    )
    first_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="A registration never used by then is refused and cleaned up.",
    )

    def __str__(self) -> str:
        return f"profile of {self.application_id}"

    def refuses_use(self, now: datetime) -> bool:
        """True if the client is refused: disabled, or a registration never
        used and past its expiry (it is cleaned up later)."""
        if self.is_disabled:
            return True
        return (
            self.first_used_at is None
            and self.expires_at is not None
            and self.expires_at <= now
        )


class Revocation(models.Model):
    """One entry of the revocation feed that every MCP worker follows.

    Access tokens are verified locally (no query per request), so anything
    that must stop a live token is written here and each process reads the
    new entries about twice a second (mcpserver/revocations.py).

    - `kind=jti`: the token with that `jti` is refused.
    - `kind=user|client|tenant`: every token of that subject issued at or
      before `created_at` is refused (a disabled user, client or tenant;
      re-enabling it lets newly issued tokens through).
    - with `tenant_id` set, a `user` or `client` entry refuses only the
      subject's tokens issued for that tenant (what a tenant administrator
      may stop).
    - `kind=grant`, subject `"<user id> <client_id>"`: every token of that
      user at that client issued until then (a user withdrawing one
      client's access from their account page).

    Entries are needed only until every token they can match has expired.
    """

    class Kind(models.TextChoices):
        JTI = "jti", "Token (jti)"
        USER = "user", "User"
        CLIENT = "client", "Client"
        TENANT = "tenant", "Tenant"
        GRANT = "grant", "One user at one client"

    kind = models.CharField(max_length=8, choices=Kind)
    subject = models.CharField(max_length=255)
    reason = models.CharField(max_length=200, blank=True)
    tenant_id = models.IntegerField(
        null=True,
        blank=True,
        help_text="Only tokens issued for this tenant (user and client entries).",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(
        help_text="After this no token the entry matches can still be valid."
    )

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["expires_at"], name="oauth_revocation_expiry")]

    def __str__(self) -> str:
        scope = f" in tenant {self.tenant_id}" if self.tenant_id else ""
        return f"{self.kind}:{self.subject}{scope}"

    @staticmethod
    def grant_subject(*, user_id: int, client_id: str) -> str:
        """The subject of a `grant` entry for this user and client."""
        return f"{user_id} {client_id}"


class AuthorizationRecord(models.Model):
    """One consent: which tenant it was for, and what its code became.

    Written with the authorization code; the code is stored only as its
    keyed hash (oauth/token_hashing.py, the same form as DOT's Grant.code).
    Redeeming the code marks `redeemed_at` with a conditional
    UPDATE, so of two concurrent redemptions exactly one wins. The first
    refresh token's family is linked here, which lets a replayed code revoke
    everything it issued and gives refreshes their tenant back (the client
    never supplies it).
    """

    code_hash = models.CharField(max_length=80, unique=True)
    application = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="+"
    )
    scope = models.CharField(max_length=255)
    token_family = models.UUIDField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    redeemed_at = models.DateTimeField(null=True, blank=True)
    reuse_detected_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="A second redemption of the code was seen: nothing it "
        "issued may stay valid, whichever redemption won.",
    )

    def __str__(self) -> str:
        return f"authorization {self.pk} ({self.tenant_id})"


class IssuedAccessToken(models.Model):
    """The jti of every access token one consent issued, until it expires.

    DOT deletes an access token's row when a refresh supersedes it, but its
    JWT stays valid at /mcp until `exp`. This ledger keeps what is needed
    to stop every one of them: revoking a refresh token (RFC 7009) or a
    replayed code puts each unexpired jti of the consent on the revocation
    feed. Rows are pruned once expired.
    """

    authorization = models.ForeignKey(
        AuthorizationRecord, on_delete=models.CASCADE, related_name="+"
    )
    jti = models.CharField(max_length=64)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"jti {self.jti} of authorization {self.authorization_id}"


class RefreshSuccessor(models.Model):
    """What a rotation issued, sealed for the refresh token it consumed.

    A client that retries a refresh within the grace window must get the
    same successor, but token values are stored only as keyed hashes; so
    the successor's values are kept encrypted under a key derived from the
    consumed refresh token (oauth/token_sealing.py), which only its holder
    has. One row per consumed refresh token, written in the rotation's
    transaction; an older member's row is deleted when its family rotates
    again (its grace has ended then: DOT refuses it), and every row goes
    with its refresh token.
    """

    refresh_token = models.OneToOneField(
        oauth2_settings.REFRESH_TOKEN_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="+",
    )
    sealed = models.TextField(editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return f"successor of refresh token {self.refresh_token_id}"

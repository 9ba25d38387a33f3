from django.conf import settings
from django.core.validators import (
    MaxValueValidator,
    MinValueValidator,
    RegexValidator,
)
from django.db import models
from django.utils import timezone

SCOPE_TOOLS_CALL = "tools:call"
SCOPE_ADMIN = "admin"

scope_list_validator = RegexValidator(
    r"^[\x21\x23-\x5b\x5d-\x7e]+( [\x21\x23-\x5b\x5d-\x7e]+)*$|^$",
    "Space-separated OAuth scope tokens (RFC 6749 §3.3).",
)


def split_scopes(value: str) -> frozenset[str]:
    """Return the scope tokens of a space-separated scope string."""
    return frozenset(value.split())


class Tenant(models.Model):
    """An organisation whose users, tools and data are isolated from others.

    Tenants are deactivated, never deleted: audit rows point at them.
    """

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # Quotas on the tenant's /mcp requests (mcpserver/quotas.py); empty means
    # the server's default (MCP_TENANT_RATE, MCP_TENANT_BURST,
    # MCP_CLIENT_SHARE).
    quota_rate = models.FloatField(
        "quota: requests per second",
        null=True,
        blank=True,
        validators=[MinValueValidator(0.01)],
        help_text="Sustained /mcp requests per second for the whole tenant. "
        "Empty: the server's default (MCP_TENANT_RATE; 0 there means no limit).",
    )
    quota_burst = models.PositiveIntegerField(
        "quota: burst",
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="The bucket's size: requests the tenant may make at once "
        "after a quiet spell. Empty: MCP_TENANT_BURST, or one second's worth "
        "of the rate.",
    )
    quota_client_share = models.PositiveSmallIntegerField(
        "quota: share of one client (%)",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Percentage of the tenant's rate and burst one OAuth client "
        "may use, so a runaway client leaves the rest to the others. "
        "Empty: MCP_CLIENT_SHARE.",
    )

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Membership(models.Model):
    """A user's place in a tenant; the role decides which scopes a login grants."""

    class Role(models.TextChoices):
        MEMBER = "member", "Member"
        ADMIN = "admin", "Admin"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role, default=Role.MEMBER)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["tenant__slug", "user__username"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "tenant"], name="%(app_label)s_%(class)s_unique_member"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.tenant} ({self.role})"


class Tool(models.Model):
    """An entry in the tool catalogue; the code is an app's `@tool` function.

    `manage.py sync_tools` keeps the rows in step with the registered tools
    (mcpserver/tool_catalogue.py): it writes the code-owned fields (title,
    description, default scopes, annotations) and marks a row whose code is
    gone unavailable instead of deleting it, so policy and audit history
    stay. An unavailable tool is in no tenant's list and cannot be called.
    """

    name = models.CharField(
        max_length=64,
        unique=True,
        validators=[RegexValidator(r"^[A-Za-z0-9_.-]{1,64}$")],
    )
    title = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    required_scopes = models.CharField(
        max_length=255,
        default=SCOPE_TOOLS_CALL,
        validators=[scope_list_validator],
        help_text="Space-separated scopes every call of this tool needs.",
    )
    annotations = models.JSONField(
        default=dict,
        blank=True,
        help_text="The MCP tool annotations its code declares (readOnlyHint, ...).",
    )
    available = models.BooleanField(
        default=True,
        help_text="False when no installed app registers this tool any more.",
    )
    source = models.CharField(
        max_length=300,
        blank=True,
        help_text="The Python function that implements it.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def required_scope_set(self) -> frozenset[str]:
        return split_scopes(self.required_scopes)


class TenantTool(models.Model):
    """A tenant's policy for one tool: whether it has it, and any extra scopes."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="tools")
    tool = models.ForeignKey(Tool, on_delete=models.CASCADE, related_name="tenants")
    enabled = models.BooleanField(default=True)
    extra_scopes = models.CharField(
        max_length=255,
        blank=True,
        validators=[scope_list_validator],
        help_text="Scopes this tenant requires on top of the tool's own.",
    )

    class Meta:
        ordering = ["tenant__slug", "tool__name"]
        verbose_name = "tenant tool policy"
        verbose_name_plural = "tenant tool policies"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "tool"], name="%(app_label)s_%(class)s_unique_tool"
            ),
        ]

    def __str__(self) -> str:
        state = "enabled" if self.enabled else "disabled"
        return f"{self.tool} for {self.tenant} ({state})"


class Document(models.Model):
    """A tenant's document, searched by the `search_documents` tool."""

    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="documents"
    )
    title = models.CharField(max_length=300)
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["tenant__slug", "title"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "title"], name="%(app_label)s_%(class)s_unique_title"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class Report(models.Model):
    """A tenant's tabular report, exported by the `export_report` tool."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="reports")
    report_id = models.SlugField(max_length=64, help_text="Tenant-local id, e.g. r1.")
    title = models.CharField(max_length=300)
    rows = models.JSONField(
        default=list, help_text="A list of objects, one per row, with the same keys."
    )

    class Meta:
        ordering = ["tenant__slug", "report_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "report_id"],
                name="%(app_label)s_%(class)s_unique_report_id",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.report_id}: {self.title}"

"""The demo tenants, users, tools and data that `manage.py seed_demo` creates.

Not a service of the product: nothing but the `seed_demo` command, the
harness and the tests use it.
"""

from dataclasses import dataclass

from django.db import transaction

from accounts.models import User
from tenants.models import (
    SCOPE_ADMIN,
    SCOPE_TOOLS_CALL,
    Document,
    Membership,
    Report,
    Tenant,
    TenantTool,
    Tool,
)

DEMO_PASSWORD = "demo"  # noqa: S105 - the documented demo accounts' password

DEMO_TOOLS = {
    "echo": ("Return the message it is given.", SCOPE_TOOLS_CALL),
    "search_documents": (
        "Search the tenant's documents by words; best matches first.",
        SCOPE_TOOLS_CALL,
    ),
    "export_report": (
        "Export one of the tenant's reports as JSON or CSV.",
        SCOPE_TOOLS_CALL,
    ),
    "admin_purge": (
        "Delete all of the tenant's documents (requires confirm: true).",
        f"{SCOPE_TOOLS_CALL} {SCOPE_ADMIN}",
    ),
}

DEMO_TENANTS = {
    "tenant-a": ("Tenant A", ["echo", "search_documents", "admin_purge"]),
    "tenant-b": ("Tenant B", ["echo", "search_documents", "export_report"]),
}

DEMO_USERS: dict[str, list[tuple[str, str]]] = {
    "alice": [("tenant-a", Membership.Role.ADMIN)],
    "bob": [("tenant-a", Membership.Role.MEMBER)],
    "carol": [("tenant-b", Membership.Role.MEMBER)],
    # Belongs to two tenants, so a login shows the tenant chooser.
    "dave": [
        ("tenant-a", Membership.Role.MEMBER),
        ("tenant-b", Membership.Role.ADMIN),
    ],
}
"""Each demo user's (tenant slug, role) memberships."""

DEMO_DOCUMENTS = {
    "tenant-a": [
        ("Onboarding guide", "How new staff get accounts, laptops and badges."),
        ("Security policy", "Passwords rotate yearly; report phishing to security."),
        ("Quarterly plan", "Ship the MCP gateway, audit at speed, onboarding revamp."),
    ],
    "tenant-b": [
        ("Pricing sheet", "List prices for the standard and enterprise plans."),
        ("Support handbook", "Escalation paths and response times for support."),
        ("Security checklist", "Quarterly access review and key rotation steps."),
    ],
}

DEMO_REPORTS = {
    "tenant-b": [
        (
            "r1",
            "Monthly revenue",
            [
                {"month": "2026-08", "revenue": 12000},
                {"month": "2026-09", "revenue": 13500},
                {"month": "2026-10", "revenue": 14100},
            ],
        ),
        (
            "r2",
            "Support tickets",
            [
                {"priority": "high", "open": 3, "closed": 41},
                {"priority": "low", "open": 12, "closed": 230},
            ],
        ),
    ],
}


@dataclass(frozen=True)
class SeedResult:
    tenants: int
    users: int
    tools: int
    documents: int
    reports: int


@transaction.atomic(durable=True)
def seed_demo_data() -> SeedResult:
    """Create or restore the demo tenants, users, tools, documents and reports.

    Idempotent: a second run leaves the same rows. It restores what the demo
    needs (memberships, tool policy, documents a purge deleted) without
    touching other data. Users get the password `demo`, hashed like any other.
    """
    tools = {}
    for name, (description, scopes) in DEMO_TOOLS.items():
        tools[name], _ = Tool.objects.update_or_create(
            name=name, defaults={"description": description, "required_scopes": scopes}
        )
    tenants = {}
    for slug, (name, tool_names) in DEMO_TENANTS.items():
        tenant, _ = Tenant.objects.update_or_create(
            slug=slug, defaults={"name": name, "is_active": True}
        )
        tenants[slug] = tenant
        for tool_name in tool_names:
            TenantTool.objects.update_or_create(
                tenant=tenant,
                tool=tools[tool_name],
                defaults={"enabled": True, "extra_scopes": ""},
            )
    for username, memberships in DEMO_USERS.items():
        user, created = User.objects.get_or_create(
            username=username, defaults={"email": f"{username}@example.com"}
        )
        if created or not user.check_password(DEMO_PASSWORD) or not user.is_active:
            user.set_password(DEMO_PASSWORD)
            user.is_active = True
            user.save(update_fields=["password", "is_active"])
        for slug, role in memberships:
            Membership.objects.update_or_create(
                user=user, tenant=tenants[slug], defaults={"role": role}
            )
    documents = 0
    for slug, docs in DEMO_DOCUMENTS.items():
        for title, body in docs:
            Document.objects.update_or_create(
                tenant=tenants[slug], title=title, defaults={"body": body}
            )
            documents += 1
    reports = 0
    for slug, entries in DEMO_REPORTS.items():
        for report_id, title, rows in entries:
            Report.objects.update_or_create(
                tenant=tenants[slug],
                report_id=report_id,
                defaults={"title": title, "rows": rows},
            )
            reports += 1
    return SeedResult(
        tenants=len(tenants),
        users=len(DEMO_USERS),
        tools=len(tools),
        documents=documents,
        reports=reports,
    )

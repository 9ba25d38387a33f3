"""Reads of tenant data. Every query of tenant rows is filtered by tenant here.

Callers pass the tenant of the authenticated principal; nothing here accepts
a row id without its tenant, so no caller can reach another tenant's rows
(DESIGN invariant 6).
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

from tenants.models import (
    Document,
    Membership,
    Report,
    Tenant,
    TenantTool,
    Tool,
    split_scopes,
)

MAX_SEARCH_TERMS = 8
SNIPPET_CHARS = 160
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class TenantQuota:
    """A tenant's own quota settings; None where the server default applies.

    `rate` is requests per second, `burst` the bucket's size and
    `client_share` the percentage of both that one client may use.
    """

    rate: float | None = None
    burst: int | None = None
    client_share: int | None = None


@dataclass(frozen=True)
class ToolPolicy:
    """One tenant's tool policy at one moment.

    `required_scopes` has exactly the tenant's enabled tools, each with the
    scopes a call needs (the tool's own plus the tenant's extra scopes);
    `catalogue` has every available tool name (code registers it); `descriptions` the
    catalogue's descriptions of the enabled tools; `quota` the tenant's own
    quota settings, read with the rest so one snapshot serves both.
    """

    tenant_id: int
    required_scopes: Mapping[str, frozenset[str]]
    catalogue: frozenset[str]
    descriptions: Mapping[str, str]
    quota: TenantQuota = TenantQuota()


def get_tool_policy(*, tenant_id: int) -> ToolPolicy:
    """Return `tenant_id`'s tool policy and quota; an inactive tenant has no tools."""
    enabled = TenantTool.objects.filter(
        tenant_id=tenant_id, enabled=True, tenant__is_active=True, tool__available=True
    ).select_related("tool")
    required: dict[str, frozenset[str]] = {}
    descriptions: dict[str, str] = {}
    for policy in enabled:
        required[policy.tool.name] = policy.tool.required_scope_set | split_scopes(
            policy.extra_scopes
        )
        descriptions[policy.tool.name] = policy.tool.description
    quota = (
        Tenant.objects.filter(pk=tenant_id)
        .values_list("quota_rate", "quota_burst", "quota_client_share")
        .first()
    )
    return ToolPolicy(
        tenant_id=tenant_id,
        required_scopes=required,
        catalogue=frozenset(
            Tool.objects.filter(available=True).values_list("name", flat=True)
        ),
        descriptions=descriptions,
        quota=TenantQuota(*quota) if quota else TenantQuota(),
    )


def tenant_documents(*, tenant_id: int) -> QuerySet[Document]:
    """The documents of `tenant_id`."""
    return Document.objects.filter(tenant_id=tenant_id)


def tenant_reports(*, tenant_id: int) -> QuerySet[Report]:
    """The reports of `tenant_id`."""
    return Report.objects.filter(tenant_id=tenant_id)


@dataclass(frozen=True)
class DocumentHit:
    id: int
    title: str
    snippet: str
    score: int


def search_terms(query: str) -> list[str]:
    """The distinct lower-case words of `query`, at most MAX_SEARCH_TERMS."""
    terms: list[str] = []
    for word in _WORD.findall(query.lower()):
        if word not in terms:
            terms.append(word[:64])
        if len(terms) == MAX_SEARCH_TERMS:
            break
    return terms


def _snippet(body: str, terms: list[str]) -> str:
    lowered = body.lower()
    positions = [pos for term in terms if (pos := lowered.find(term)) >= 0]
    start = max(0, min(positions) - SNIPPET_CHARS // 3) if positions else 0
    end = start + SNIPPET_CHARS
    text = body[start:end].strip()
    return ("…" if start else "") + text + ("…" if end < len(body) else "")


def search_documents(
    documents: QuerySet[Document], *, query: str, limit: int
) -> list[DocumentHit]:
    """The `documents` matching any word of `query`, best first, at most `limit`.

    `documents` must already be one tenant's (a tenant-scoped queryset). A
    document scores 3 per query word in its title and 1 per word in its
    body (case-insensitive substring match, the same on SQLite and
    PostgreSQL); ties go by title. A query without words matches nothing.
    """
    terms = search_terms(query)
    if not terms:
        return []
    matches = Q()
    score = Value(0, output_field=IntegerField())
    for term in terms:
        matches |= Q(title__icontains=term) | Q(body__icontains=term)
        score += Case(
            When(title__icontains=term, then=Value(3)),
            default=Value(0),
            output_field=IntegerField(),
        ) + Case(
            When(body__icontains=term, then=Value(1)),
            default=Value(0),
            output_field=IntegerField(),
        )
    ranked = (
        documents.filter(matches)
        .annotate(score=score)
        .order_by("-score", "title", "pk")
        .only("id", "title", "body")[:limit]
    )
    return [
        DocumentHit(
            id=document.pk,
            title=document.title,
            snippet=_snippet(document.body, terms),
            score=document.score,
        )
        for document in ranked
    ]


def get_report(*, tenant_id: int, report_id: str) -> Report | None:
    """Return `tenant_id`'s report `report_id`, or None (never another tenant's)."""
    return tenant_reports(tenant_id=tenant_id).filter(report_id=report_id).first()


def administered_tenant_ids(*, user: Any) -> frozenset[int] | None:
    """The active tenants in which `user` holds the admin role.

    None means every tenant: a superuser administers all of them. An
    anonymous or inactive user administers none.
    """
    if not getattr(user, "is_active", False):
        return frozenset()
    if user.is_superuser:
        return None
    return frozenset(
        Membership.objects.filter(
            user_id=user.pk, role=Membership.Role.ADMIN, tenant__is_active=True
        ).values_list("tenant_id", flat=True)
    )

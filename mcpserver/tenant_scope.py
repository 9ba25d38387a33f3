"""Querysets that can only hold one tenant's rows (DESIGN invariant 6).

A model is tenant-owned when it names its tenant field once: either a class
attribute `mcp_tenant_field` (a lookup path such as `"tenant"` or
`"order__tenant"`), or, without it, its one foreign key to `tenants.Tenant`.
`scoped(Model, tenant_id)` filters the model's rows to the tenant, and
keeps that true through the relations a tool follows: `select_related` also
requires every joined tenant-owned row to be the tenant's (a row whose
relation points into another tenant is left out, never shown), and
`prefetch_related` fetches tenant-owned relations through scoped querysets.
A model with no tenant field cannot be scoped: TypeError, fail closed.
"""

import functools
from typing import Any, TypeVar

from django.db import models
from django.db.models import Prefetch, Q, QuerySet

M = TypeVar("M", bound=models.Model)


@functools.cache
def tenant_field(model: type[models.Model]) -> str | None:
    """The lookup path from `model` to its tenant, or None (not tenant-owned)."""
    declared = getattr(model, "mcp_tenant_field", None)
    if declared:
        return str(declared)
    from tenants.models import Tenant

    if model is Tenant:
        return "pk"
    keys = [
        field.name
        for field in model._meta.get_fields()
        if isinstance(field, models.ForeignKey | models.OneToOneField)
        and field.related_model is Tenant
    ]
    return keys[0] if len(keys) == 1 else None


def _related_model(model: type[models.Model], path: str) -> type[models.Model]:
    for part in path.split("__"):
        model = model._meta.get_field(part).related_model
    return model


class TenantScopedQuerySet(QuerySet):
    """A queryset of one tenant's rows that keeps its joins in the tenant."""

    _tenant_id: int

    def _clone(self) -> "TenantScopedQuerySet":
        clone = super()._clone()
        clone._tenant_id = self._tenant_id
        return clone

    def select_related(self, *fields: Any) -> "TenantScopedQuerySet":
        if not fields or None in fields:
            raise TypeError(
                "A scoped queryset joins named relations only: select_related('a', ...)"
            )
        queryset = super().select_related(*fields)
        condition = Q()
        paths = {
            "__".join(path.split("__")[:depth])
            for path in fields
            for depth in range(1, len(path.split("__")) + 1)
        }
        for path in sorted(paths):
            owner = tenant_field(_related_model(self.model, path))
            if owner is not None:
                condition &= Q(**{f"{path}__isnull": True}) | Q(
                    **{f"{path}__{owner}": self._tenant_id}
                )
        return queryset.filter(condition) if condition else queryset

    def prefetch_related(self, *lookups: Any) -> "TenantScopedQuerySet":
        scoped_lookups: list[Any] = []
        seen: set[str] = set()
        for lookup in lookups:
            if not isinstance(lookup, str):
                raise TypeError(
                    "A scoped queryset prefetches relations by name only "
                    "(it scopes each one itself)"
                )
            parts = lookup.split("__")
            model = self.model
            for depth in range(1, len(parts) + 1):
                path = "__".join(parts[:depth])
                field = model._meta.get_field(parts[depth - 1])
                model = field.related_model
                if path in seen:
                    continue
                seen.add(path)
                if tenant_field(model) is None:
                    scoped_lookups.append(path)
                else:
                    scoped_lookups.append(
                        Prefetch(path, queryset=scoped(model, self._tenant_id))
                    )
        return super().prefetch_related(*scoped_lookups)


def scoped(model: type[M], tenant_id: int) -> "QuerySet[M]":
    """`model`'s rows of tenant `tenant_id`, as a TenantScopedQuerySet.

    Raises TypeError when `model` is not tenant-owned (see the module).
    """
    field = tenant_field(model)
    if field is None:
        raise TypeError(
            f"{model._meta.label} has no tenant field: give it one foreign key "
            "to tenants.Tenant or set mcp_tenant_field"
        )
    queryset = model._default_manager.all()
    queryset.__class__ = _scoped_class(type(queryset))
    queryset._tenant_id = tenant_id
    return queryset.filter(**{field: tenant_id})


@functools.cache
def _scoped_class(base: type[QuerySet]) -> type[TenantScopedQuerySet]:
    """The model's own queryset class (its custom methods) made tenant-scoped."""
    if issubclass(base, TenantScopedQuerySet):
        return base
    return type(f"TenantScoped{base.__name__}", (TenantScopedQuerySet, base), {})

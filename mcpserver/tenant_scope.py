"""Querysets that can only hold one tenant's rows (DESIGN invariant 6).

A model is tenant-owned when it names its tenant field once: either a class
attribute `mcp_tenant_field` (a lookup path such as `"tenant"` or
`"order__tenant"`), or, without it, its one foreign key to `tenants.Tenant`.
`scoped(Model, tenant_id)` filters the model's rows to the tenant, and
keeps that true through the relations a tool follows: `select_related` also
requires every joined tenant-owned row to be the tenant's (a row whose
relation points into another tenant is left out, never shown),
`values`/`values_list` do the same for every relation their fields (or the
`F()` and `Q()` of their expressions) reach through, and `prefetch_related`
fetches tenant-owned relations through scoped querysets. A model with no
tenant field cannot be scoped: TypeError, fail closed.
"""

import functools
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import F, Prefetch, Q, QuerySet

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


def _joined_paths(model: type[models.Model], lookup: str) -> Iterator[str]:
    """The relations `lookup` reads through, nearest first: "customer__name"
    gives "customer"; "customer" alone (its key column) gives none."""
    parts = lookup.split("__")
    for depth, part in enumerate(parts[:-1], start=1):
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return  # an annotation, a transform or a lookup: no relation
        if not field.is_relation or field.related_model is None:
            return
        yield "__".join(parts[:depth])
        model = field.related_model


def _expression_lookups(expression: Any) -> Iterator[str]:
    """The field paths an expression names (its `F()`s and `Q()` lookups)."""
    if isinstance(expression, F):
        yield expression.name
    elif isinstance(expression, Q):
        for child in expression.children:
            if isinstance(child, tuple):
                yield child[0]
                yield from _expression_lookups(child[1])
            else:
                yield from _expression_lookups(child)
    elif hasattr(expression, "get_source_expressions"):
        for source in expression.get_source_expressions():
            yield from _expression_lookups(source)


class TenantScopedQuerySet(QuerySet):
    """A queryset of one tenant's rows that keeps its joins in the tenant."""

    _tenant_id: int

    def _clone(self) -> "TenantScopedQuerySet":
        clone = super()._clone()
        clone._tenant_id = self._tenant_id
        return clone

    def _within_tenant(self, paths: Iterable[str]) -> "TenantScopedQuerySet":
        """Rows whose tenant-owned relations along `paths` are the tenant's
        (or absent); the joins this filter makes are the ones a later
        `select_related` or `values` reads through."""
        condition = Q()
        for path in sorted(set(paths)):
            owner = tenant_field(_related_model(self.model, path))
            if owner is not None:
                condition &= Q(**{f"{path}__isnull": True}) | Q(
                    **{f"{path}__{owner}": self._tenant_id}
                )
        return self.filter(condition) if condition else self

    def select_related(self, *fields: Any) -> "TenantScopedQuerySet":
        if not fields or None in fields:
            raise TypeError(
                "A scoped queryset joins named relations only: select_related('a', ...)"
            )
        queryset = super().select_related(*fields)
        paths = {
            "__".join(path.split("__")[:depth])
            for path in fields
            for depth in range(1, len(path.split("__")) + 1)
        }
        return queryset._within_tenant(paths)

    def _reading(self, fields: Iterable[Any], expressions: dict[str, Any]) -> Any:
        """Self, kept in the tenant along every relation the fields of a
        `values`/`values_list` call read through."""
        lookups = [field for field in fields if isinstance(field, str)]
        for expression in [
            *(field for field in fields if not isinstance(field, str)),
            *expressions.values(),
        ]:
            lookups.extend(_expression_lookups(expression))
        return self._within_tenant(
            path for lookup in lookups for path in _joined_paths(self.model, lookup)
        )

    def values(self, *fields: Any, **expressions: Any) -> Any:
        return super(TenantScopedQuerySet, self._reading(fields, expressions)).values(
            *fields, **expressions
        )

    def values_list(self, *fields: Any, **options: Any) -> Any:
        return super(TenantScopedQuerySet, self._reading(fields, {})).values_list(
            *fields, **options
        )

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

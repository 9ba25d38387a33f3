"""The operator console's tenant boundary: what a tenant administrator sees.

A superuser sees every row. Any other user sees, in every admin that uses
`TenantScopedAdmin`, only the rows of the tenants they administer
(`tenants.selectors.administered_tenant_ids`), everywhere the admin reads
rows: changelists, search, the tenant filter (`ScopedTenantFilter` lists
only theirs), autocomplete (which asks the target model's admin), related
pop-ups, object URLs by id (a row of another tenant is "not found") and
foreign-key choices on forms. A user who administers no tenant gets no
permission at all. Django's per-model permissions are not consulted for
tenant administrators: the role in the tenant is the grant.
"""

from typing import Any

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from tenants.models import Tenant
from tenants.selectors import administered_tenant_ids

_CACHE_ATTRIBUTE = "_administered_tenant_ids"


def request_tenant_ids(request: HttpRequest) -> frozenset[int] | None:
    """`administered_tenant_ids` of the request's user, read once per request."""
    if not hasattr(request, _CACHE_ATTRIBUTE):
        setattr(request, _CACHE_ATTRIBUTE, administered_tenant_ids(user=request.user))
    return getattr(request, _CACHE_ATTRIBUTE)


def scope_to_tenants(
    queryset: QuerySet[Any], tenant_ids: frozenset[int] | None, tenant_path: str
) -> QuerySet[Any]:
    """`queryset` limited to `tenant_ids` (None: unlimited) along `tenant_path`.

    `tenant_path` is the lookup from the model to its Tenant ("tenant",
    "membership__tenant", ...); "" for the Tenant model itself.
    """
    if tenant_ids is None:
        return queryset
    lookup = f"{tenant_path}__in" if tenant_path else "pk__in"
    return queryset.filter(**{lookup: tenant_ids}).distinct()


class ScopedTenantFilter(admin.RelatedFieldListFilter):
    """The tenant filter, listing only the tenants the user administers."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: Any):
        ids = request_tenant_ids(request)
        tenants = Tenant.objects.order_by("slug")
        if ids is not None:
            tenants = tenants.filter(pk__in=ids)
        return [(tenant.pk, str(tenant)) for tenant in tenants]


class TenantScopedAdmin(admin.ModelAdmin):
    """A ModelAdmin whose rows, choices and permissions follow the tenant boundary.

    Set `tenant_path` to the lookup from the model to its Tenant. Subclasses
    that refuse writes (read-only admins) keep overriding the `has_*`
    methods; this class only ever narrows what Django would allow.
    """

    tenant_path: str = "tenant"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return scope_to_tenants(
            super().get_queryset(request), request_tenant_ids(request), self.tenant_path
        )

    def _allowed(self, request: HttpRequest, obj: Model | None) -> bool:
        ids = request_tenant_ids(request)
        if ids is None:
            return True
        if not ids:
            return False
        if obj is None:
            return True
        return self.get_queryset(request).filter(pk=obj.pk).exists()

    def has_module_permission(self, request: HttpRequest) -> bool:
        if request.user.is_superuser:
            return super().has_module_permission(request)
        return self._allowed(request, None)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None):
        if request.user.is_superuser:
            return super().has_view_permission(request, obj)
        return self._allowed(request, obj)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        if request.user.is_superuser:
            return super().has_add_permission(request, *args)
        return self._allowed(request, None)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None):
        if request.user.is_superuser:
            return super().has_change_permission(request, obj)
        return self._allowed(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None):
        if request.user.is_superuser:
            return super().has_delete_permission(request, obj)
        return self._allowed(request, obj)

    def formfield_for_foreignkey(
        self, db_field: Any, request: HttpRequest, **kwargs: Any
    ) -> Any:
        choices = scoped_choices(self.admin_site, request, db_field.related_model)
        if choices is not None:
            kwargs["queryset"] = choices
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


def scoped_choices(
    site: admin.AdminSite, request: HttpRequest, model: type[Model]
) -> QuerySet[Any] | None:
    """The rows of `model` a tenant administrator may pick, or None (no limit).

    What the target model's own admin shows them, when that admin is tenant
    scoped (users: the members of their tenants); tenants: theirs. So a
    foreign key can name no row the administrator cannot see, whether the
    widget is a select, an autocomplete or a raw id.
    """
    ids = request_tenant_ids(request)
    if ids is None:
        return None
    target = site.get_model_admin(model) if site.is_registered(model) else None
    if isinstance(target, TenantScopedAdmin):
        return target.get_queryset(request)
    if model is Tenant:
        return Tenant.objects.filter(pk__in=ids)
    return None


class TenantScopedInline(admin.options.InlineModelAdmin):
    """An inline whose rows, choices and permissions follow the tenant boundary.

    Mix into TabularInline or StackedInline before it. The parent object is
    already scoped by its own admin; this keeps another tenant's rows out of
    the formset (a user's memberships, say) and their tenants out of the
    choices, so no row can be added to, or moved into, another tenant.
    """

    tenant_path: str = "tenant"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return scope_to_tenants(
            super().get_queryset(request), request_tenant_ids(request), self.tenant_path
        )

    def _scoped_permission(self, request: HttpRequest) -> bool:
        return bool(request_tenant_ids(request))

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None):
        if request.user.is_superuser:
            return super().has_view_permission(request, obj)
        return self._scoped_permission(request)

    def has_add_permission(self, request: HttpRequest, obj: Model | None) -> bool:
        if request.user.is_superuser:
            return super().has_add_permission(request, obj)
        return self._scoped_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None):
        if request.user.is_superuser:
            return super().has_change_permission(request, obj)
        return self._scoped_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None):
        if request.user.is_superuser:
            return super().has_delete_permission(request, obj)
        return self._scoped_permission(request)

    def formfield_for_foreignkey(
        self, db_field: Any, request: HttpRequest, **kwargs: Any
    ) -> Any:
        choices = scoped_choices(self.admin_site, request, db_field.related_model)
        if choices is not None:
            kwargs["queryset"] = choices
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class SuperuserOnlyAdmin(admin.ModelAdmin):
    """An admin that only superusers reach (keys, the revocation feed, ...)."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser and super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None):
        return request.user.is_superuser and super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return request.user.is_superuser and super().has_add_permission(request, *args)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None):
        return request.user.is_superuser and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None):
        return request.user.is_superuser and super().has_delete_permission(request, obj)

"""The authorization server's admin, and its hooks into the other apps' admins.

Disabling a user or tenant must stop its live tokens, but accounts and
tenants know nothing of tokens (dependencies point from oauth to them, never
back). So their admins are extended here, the way DOT's client admin is:
re-registered with `RevokeOnDeactivationMixin`.
"""

from typing import Any
from urllib.parse import urlsplit

from django.contrib import admin
from django.db.models import Count, Max, Model, Q, QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from oauth2_provider.admin import ApplicationAdmin as DotApplicationAdmin
from oauth2_provider.models import get_application_model

from accounts.admin import UserAdmin
from accounts.models import User
from oauth import (  # noqa: F401 - registers the token and registry admins
    admin_resource_servers,
    admin_tokens,
)
from oauth.admin_kill_switches import (
    SuperuserActions,
    disable_clients,
    disable_tenants,
    disable_users,
    revoke_client_tokens,
    revoke_tenant_tokens_action,
    revoke_user_tokens,
)
from oauth.models import ClientProfile, Revocation, SigningKey
from oauth.selectors import tenant_applications
from oauth.services import record_deactivation
from tenants.admin import TenantAdmin
from tenants.admin_audit import AuditedAdmin
from tenants.admin_scoping import SuperuserOnlyAdmin, request_tenant_ids
from tenants.models import Tenant

Application = get_application_model()


class RevokeOnDeactivationMixin:
    """ModelAdmin mixin: unticking `is_active` revokes the object's live tokens.

    The subject is the object's pk as a string, as the token claims carry it
    (`sub` for users, `tenant_id` for tenants).
    """

    revocation_kind: Revocation.Kind

    def save_model(
        self, request: HttpRequest, obj: Any, form: ModelForm, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and not obj.is_active:
            is_tenant = self.revocation_kind == Revocation.Kind.TENANT
            record_deactivation(
                kind=self.revocation_kind,
                subject=str(obj.pk),
                label=str(obj),
                actor_id=request.user.pk,
                tenant_id=obj.pk if is_tenant else None,
            )


class RevokingUserAdmin(SuperuserActions, RevokeOnDeactivationMixin, UserAdmin):
    revocation_kind = Revocation.Kind.USER
    actions = [revoke_user_tokens, disable_users]


class RevokingTenantAdmin(RevokeOnDeactivationMixin, TenantAdmin):
    revocation_kind = Revocation.Kind.TENANT
    actions = [revoke_tenant_tokens_action, disable_tenants]


admin.site.unregister(User)
admin.site.register(User, RevokingUserAdmin)
admin.site.unregister(Tenant)
admin.site.register(Tenant, RevokingTenantAdmin)


class ClientProfileInline(admin.StackedInline):
    model = ClientProfile
    can_delete = False
    fields = [
        "registration",
        "is_resource_server",
        "is_disabled",
        "registered_from",
        "first_used_at",
        "expires_at",
    ]
    readonly_fields = ["registered_from", "first_used_at"]

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None):
        return request.user.is_superuser and super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest, obj: Model | None) -> bool:
        return request.user.is_superuser and super().has_add_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None):
        return request.user.is_superuser and super().has_change_permission(request, obj)


admin.site.unregister(Application)


@admin.register(Application)
class ApplicationAdmin(SuperuserActions, AuditedAdmin, DotApplicationAdmin):
    """DOT's client admin, plus this server's profile (resource server, disabled).

    A tenant administrator sees, read-only and without secrets, the clients
    holding tokens for their tenants (oauth.selectors.tenant_applications).
    """

    inlines = [ClientProfileInline]
    actions = [revoke_client_tokens, disable_clients]
    # The 40-character client_id is on the detail page and searchable; in the
    # list it would push the useful columns off a 1280 px screen.
    search_fields = ["name", "client_id"]
    list_filter = ["registration_source", "client_type"]
    list_display = [
        "name",
        "registration_source",
        "redirect_hosts",
        "created",
        "last_used",
        "live_tokens",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = (
            super()
            .get_queryset(request)
            .annotate(
                last_token_at=Max("refreshtoken__created"),
                live_token_count=Count(
                    "refreshtoken", filter=Q(refreshtoken__revoked__isnull=True)
                ),
            )
        )
        ids = request_tenant_ids(request)
        if ids is None:
            return queryset
        return queryset.filter(pk__in=tenant_applications(tenant_ids=ids).values("pk"))

    @admin.display(description="redirect hosts")
    def redirect_hosts(self, obj: Any) -> str:
        """Where the client's codes go: host and port only, never a full URI."""
        hosts = {urlsplit(uri).netloc for uri in obj.redirect_uris.split() if uri}
        return ", ".join(sorted(hosts)) or "-"

    @admin.display(description="last used", ordering="last_token_at")
    def last_used(self, obj: Any) -> Any:
        """When a token was last issued to the client (a code or a refresh)."""
        return obj.last_token_at

    @admin.display(description="live tokens", ordering="live_token_count")
    def live_tokens(self, obj: Any) -> int:
        """Refresh tokens not revoked: the sessions the client can still renew."""
        return obj.live_token_count

    def get_exclude(self, request: HttpRequest, obj: Model | None = None) -> Any:
        if request.user.is_superuser:
            return super().get_exclude(request, obj)
        return [*(super().get_exclude(request, obj) or ()), "client_secret"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        if request.user.is_superuser:
            return super().has_module_permission(request)
        return bool(request_tenant_ids(request))

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None):
        if request.user.is_superuser:
            return super().has_view_permission(request, obj)
        if not request_tenant_ids(request):
            return False
        return obj is None or self.get_queryset(request).filter(pk=obj.pk).exists()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None):
        return request.user.is_superuser and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None):
        return request.user.is_superuser and super().has_delete_permission(request, obj)

    def save_related(
        self, request: HttpRequest, form: object, formsets: object, change: bool
    ) -> None:
        was_disabled = ClientProfile.objects.filter(
            application=form.instance, is_disabled=True
        ).exists()
        super().save_related(request, form, formsets, change)
        now_disabled = ClientProfile.objects.filter(
            application=form.instance, is_disabled=True
        ).exists()
        if now_disabled and not was_disabled:
            self._revoke(request, form.instance)

    def delete_model(self, request: HttpRequest, obj: object) -> None:
        self._revoke(request, obj)
        super().delete_model(request, obj)

    def _revoke(self, request: HttpRequest, application: object) -> None:
        record_deactivation(
            kind=Revocation.Kind.CLIENT,
            subject=application.client_id,
            label=application.name or application.client_id,
            actor_id=request.user.pk,
        )


@admin.register(SigningKey)
class SigningKeyAdmin(SuperuserOnlyAdmin):
    """Keys are created by `manage.py rotate_signing_key`; never edited here.

    `is_active` marks the newest key, which signs from `activates_at`.
    """

    list_display = [
        "kid",
        "algorithm",
        "is_active",
        "created_at",
        "activates_at",
        "retired_at",
        "withdrawn_at",
    ]
    readonly_fields = [
        "kid",
        "algorithm",
        "public_jwk",
        "is_active",
        "created_at",
        "activates_at",
        "retired_at",
        "withdrawn_at",
    ]
    exclude = ["private_key_encrypted"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Revocation)
class RevocationAdmin(AuditedAdmin, SuperuserOnlyAdmin):
    list_display = ["kind", "subject", "reason", "created_at", "expires_at"]
    list_filter = ["kind"]
    search_fields = ["subject", "reason"]

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

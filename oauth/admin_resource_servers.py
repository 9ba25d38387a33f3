"""The resource-server registry in the operator console (superusers only).

Adding a row registers the resource server through the same service as
`manage.py register_resource_server` (its client is created, the
registration audited) and shows the client's credentials once, as a
message; the secret is stored only hashed. A change (name, enabled) is
audited like every console change. Rows are never deleted here: disabling
one stops new tokens for it, and its client stays for the audit trail.
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Model
from django.http import HttpRequest

from oauth.models import ResourceServer
from oauth.resource_servers import (
    InvalidResource,
    RegistrationRefused,
    canonical_resource_url,
    register_resource_server,
)
from tenants.admin_audit import AuditedAdmin
from tenants.admin_scoping import SuperuserOnlyAdmin


class ResourceServerForm(forms.ModelForm):
    class Meta:
        model = ResourceServer
        fields = ["resource", "name", "enabled"]

    def clean_resource(self) -> str:
        try:
            canonical = canonical_resource_url(self.cleaned_data["resource"])
        except InvalidResource as exc:
            raise forms.ValidationError(str(exc)) from exc
        if ResourceServer.objects.filter(resource=canonical).exists():
            raise forms.ValidationError(f"{canonical} is already registered.")
        return canonical


@admin.register(ResourceServer)
class ResourceServerAdmin(AuditedAdmin, SuperuserOnlyAdmin):
    form = ResourceServerForm
    list_display = ["resource", "name", "client_id", "enabled", "created_at"]
    list_filter = ["enabled"]
    search_fields = ["resource", "name", "application__client_id"]

    @admin.display(description="client id")
    def client_id(self, obj: ResourceServer) -> str:
        return obj.application.client_id

    def get_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        if obj is None:
            return ["resource", "name"]
        return ["resource", "name", "client_id", "enabled", "created_at"]

    def get_readonly_fields(
        self, request: HttpRequest, obj: Model | None = None
    ) -> Any:
        if obj is None:
            return []
        return ["resource", "client_id", "created_at"]

    def save_model(
        self, request: HttpRequest, obj: Any, form: Any, change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        try:
            registration = register_resource_server(
                resource=obj.resource, name=obj.name, actor_id=request.user.pk
            )
        except (InvalidResource, RegistrationRefused) as exc:  # raced another add
            raise forms.ValidationError(str(exc)) from exc
        obj.pk = registration.resource_server.pk
        obj.application = registration.resource_server.application
        obj.created_at = registration.resource_server.created_at
        messages.warning(
            request,
            "Copy this resource server's credentials now; the secret is not "
            "shown again: "
            f"MCP_AUTHORIZATION_SERVER_CLIENT_ID={registration.client_id} "
            f"MCP_AUTHORIZATION_SERVER_CLIENT_SECRET={registration.client_secret}",
        )

    def has_delete_permission(
        self, request: HttpRequest, obj: Model | None = None
    ) -> bool:
        return False

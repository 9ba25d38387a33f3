"""The pages of a person's session: home, login (audited), logout."""

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from audit.models import AuditEvent
from audit.services import record_event
from tenants.selectors import administered_tenant_ids


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """What this server is, the MCP URL to add to a client, where to sign in."""
    user = request.user
    context = {
        "mcp_url": settings.MCP_RESOURCE_URL,
        "console": user.is_active
        and (user.is_staff or administered_tenant_ids(user=user) != frozenset()),
    }
    return render(request, "accounts/home.html", context)


class AuditedLoginView(auth_views.LoginView):
    """Django's login form; every success and failure is an audit row."""

    def form_valid(self, form: auth_views.AuthenticationForm) -> HttpResponse:
        response = super().form_valid(form)
        with transaction.atomic():
            record_event(
                event=AuditEvent.Event.LOGIN_SUCCEEDED, user_id=form.get_user().pk
            )
        return response

    def form_invalid(self, form: auth_views.AuthenticationForm) -> HttpResponse:
        username = str(form.data.get("username", ""))[:150]
        with transaction.atomic():
            record_event(
                event=AuditEvent.Event.LOGIN_FAILED,
                outcome=AuditEvent.Outcome.DENIED,
                reason=f"failed login for {username!r}",
            )
        return super().form_invalid(form)


class ConfirmingLogoutView(auth_views.LogoutView):
    """Django's logout (POST only); a GET shows a page whose form POSTs it.

    A link to /accounts/logout/ then reads as a question instead of a 405.
    """

    http_method_names = ["get", "post", "options"]
    template_name = "accounts/logout_confirm.html"

    def get(
        self, request: HttpRequest, *args: object, **kwargs: object
    ) -> HttpResponse:
        return render(request, self.template_name)

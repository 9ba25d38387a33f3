"""The pages of a person's session: home, login (audited, throttled), logout."""

from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.db import transaction
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from accounts import signin
from accounts.forms import ThrottledAuthenticationForm, request_address
from audit.models import AuditEvent
from audit.services import record_event
from config.security_headers import allow_form_action
from oauth.authorize_pages import authorize_form_action_origin
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
    """Django's login form behind the sign-in lockout (accounts/signin.py).

    Every success and failure is an audit row. A sign-in refused during a
    lockout is answered 429 with Retry-After and the form saying how long
    to wait; its password was never checked.
    """

    authentication_form = ThrottledAuthenticationForm

    def render_to_response(
        self, context: dict[str, Any], **response_kwargs: Any
    ) -> HttpResponse:
        # Signing in for /authorize ends at the client when /authorize
        # refuses (no tenant, say): the form's CSP must allow that redirect.
        response = super().render_to_response(context, **response_kwargs)
        target = urlsplit(self.get_redirect_url())
        if target.path != reverse("oauth2_provider:authorize"):
            return response
        origin = authorize_form_action_origin(QueryDict(target.query))
        return allow_form_action(response, origin)

    def form_valid(self, form: ThrottledAuthenticationForm) -> HttpResponse:
        response = super().form_valid(form)
        signin.record_success(username=str(form.data.get("username", "")))
        with transaction.atomic():
            record_event(
                event=AuditEvent.Event.LOGIN_SUCCEEDED, user_id=form.get_user().pk
            )
        return response

    def form_invalid(self, form: ThrottledAuthenticationForm) -> HttpResponse:
        username = str(form.data.get("username", ""))
        address = request_address(form)
        reason = f"failed login for {username[:150]!r}"
        with transaction.atomic():
            if form.lockout is not None:
                signin.record_refusal(
                    username=username,
                    address=address,
                    lockout=form.lockout,
                    reason=reason,
                )
            else:
                signin.record_failure(username=username, address=address, reason=reason)
        response = super().form_invalid(form)
        if form.lockout is not None:
            response.status_code = HTTPStatus.TOO_MANY_REQUESTS
            response["Retry-After"] = str(form.lockout.retry_after)
        return response


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

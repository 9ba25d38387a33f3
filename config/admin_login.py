"""Signing in to the operator console: who may, and the audit row it leaves.

Django's admin login form admits staff only; the console also admits
tenant administrators (config/admin_site.py), so its form does too. The
form sits behind the same sign-in lockout as /accounts/login/
(accounts/signin.py): one budget per username and address for both.
Imported lazily by the site: forms import the user model, and the site is
built while the app registry is still loading.
"""

from http import HTTPStatus
from typing import Any

from django.contrib.admin.forms import AdminAuthenticationForm
from django.http import HttpRequest, HttpResponse

from accounts import signin
from accounts.forms import ThrottledAuthenticationMixin
from audit.models import AuditEvent
from audit.services import record_event
from tenants.selectors import administered_tenant_ids


class ConsoleAuthenticationForm(ThrottledAuthenticationMixin, AdminAuthenticationForm):
    """The admin login form, open to staff and to tenant administrators."""

    def confirm_login_allowed(self, user: Any) -> None:
        if user.is_active and not user.is_staff and administered_tenant_ids(user=user):
            return
        super().confirm_login_allowed(user)


def record_sign_in(request: HttpRequest, response: HttpResponse) -> None:
    """Audit a console sign-in attempt (joins the caller's transaction).

    A POST that signed someone in (a redirect, with an authenticated user)
    is an `admin_action` and clears the username's failures; one answered
    with the form again is a `login_failed`, counted by the lockout. A POST
    refused during a lockout is answered 429 with Retry-After (its audit
    row coalesced). Anything else (showing the form) records nothing.
    """
    if request.method != "POST":
        return
    username = str(request.POST.get("username", ""))
    if response.status_code == 302 and request.user.is_authenticated:
        signin.record_success(username=username)
        record_event(
            event=AuditEvent.Event.ADMIN_ACTION,
            user_id=request.user.pk,
            arguments={"operation": "sign_in"},
            reason=f"{request.user} signed in to the operator console",
        )
    elif response.status_code == 200:
        form = getattr(response, "context_data", {}).get("form")
        address = request.META.get("REMOTE_ADDR", "") or ""
        reason = f"failed operator console sign-in for {username[:150]!r}"
        lockout = getattr(form, "lockout", None)
        if lockout is None:
            signin.record_failure(username=username, address=address, reason=reason)
            return
        signin.record_refusal(
            username=username, address=address, lockout=lockout, reason=reason
        )
        response.status_code = HTTPStatus.TOO_MANY_REQUESTS
        response["Retry-After"] = str(lockout.retry_after)

"""Signing in to the operator console: who may, and the audit row it leaves.

Django's admin login form admits staff only; the console also admits
tenant administrators (config/admin_site.py), so its form does too.
Imported lazily by the site: forms import the user model, and the site is
built while the app registry is still loading.
"""

from typing import Any

from django.contrib.admin.forms import AdminAuthenticationForm
from django.http import HttpRequest, HttpResponse

from audit.models import AuditEvent
from audit.services import record_event
from tenants.selectors import administered_tenant_ids


class ConsoleAuthenticationForm(AdminAuthenticationForm):
    """The admin login form, open to staff and to tenant administrators."""

    def confirm_login_allowed(self, user: Any) -> None:
        if user.is_active and not user.is_staff and administered_tenant_ids(user=user):
            return
        super().confirm_login_allowed(user)


def record_sign_in(request: HttpRequest, response: HttpResponse) -> None:
    """Audit a console sign-in attempt (joins the caller's transaction).

    A POST that signed someone in (a redirect, with an authenticated user)
    is an `admin_action`; one answered with the form again is a
    `login_failed`. Anything else (showing the form) records nothing.
    """
    if request.method != "POST":
        return
    if response.status_code == 302 and request.user.is_authenticated:
        record_event(
            event=AuditEvent.Event.ADMIN_ACTION,
            user_id=request.user.pk,
            arguments={"operation": "sign_in"},
            reason=f"{request.user} signed in to the operator console",
        )
    elif response.status_code == 200:
        username = str(request.POST.get("username", ""))[:150]
        record_event(
            event=AuditEvent.Event.LOGIN_FAILED,
            outcome=AuditEvent.Outcome.DENIED,
            reason=f"failed operator console sign-in for {username!r}",
        )

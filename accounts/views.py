"""Login with an audit trail: Django's LoginView, recording each outcome."""

from django.contrib.auth import views as auth_views
from django.db import transaction
from django.http import HttpResponse

from audit.models import AuditEvent
from audit.services import record_event


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

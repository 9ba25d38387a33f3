"""The sign-in forms' gate: a locked username or address is refused first."""

from typing import Any

from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from accounts.signin import Lockout, lockout


def request_address(form: AuthenticationForm) -> str:
    """The address a sign-in form was posted from ("" without a request)."""
    request = form.request
    return (request.META.get("REMOTE_ADDR", "") if request else "") or ""


class ThrottledAuthenticationMixin:
    """Refuses a sign-in during a lockout (accounts/signin.py) unchecked.

    Mixed into an `AuthenticationForm`: `clean` asks for a lockout before
    `authenticate()` runs, so the password is never checked while one
    holds. The refusal is the form's non-field error (code "locked_out")
    and `lockout` says how long it lasts; the views answer it with 429.
    """

    lockout: Lockout | None = None

    def clean(self) -> dict[str, Any]:
        username = str(self.data.get("username", ""))  # type: ignore[attr-defined]
        self.lockout = lockout(
            username=username,
            address=request_address(self),  # type: ignore[arg-type]
        )
        if self.lockout is not None:
            raise ValidationError(self.lockout.message, code="locked_out")
        return super().clean()  # type: ignore[misc]


class ThrottledAuthenticationForm(ThrottledAuthenticationMixin, AuthenticationForm):
    """Django's sign-in form behind the lockout gate."""

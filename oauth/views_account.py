"""A signed-in person's account page: their tenants and the clients they allowed.

It lives in oauth, not accounts, because it reads and revokes tokens
(accounts knows nothing of tokens: tests/architecture). Each client has a
Revoke button that withdraws its access for this user everywhere.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from oauth.selectors import authorized_applications
from oauth.services import revoke_client_authorization


@login_required
@require_GET
def account(request: HttpRequest) -> HttpResponse:
    """The user's tenants and roles, and the clients holding tokens for them."""
    context = {
        "memberships": request.user.memberships.select_related("tenant"),
        "applications": authorized_applications(user_id=request.user.pk),
    }
    return render(request, "oauth/account.html", context)


@login_required
@require_POST
def revoke_application(request: HttpRequest, application_id: int) -> HttpResponse:
    """Revoke one of the user's authorized clients; 404 for any other client."""
    application = get_object_or_404(
        authorized_applications(user_id=request.user.pk), pk=application_id
    )
    count = revoke_client_authorization(
        user_id=request.user.pk, application=application
    )
    name = application.name or application.client_id
    messages.success(
        request,
        f"Revoked {name}: its {count} live access token(s) stop working within "
        "a second, and it can no longer refresh them.",
    )
    return redirect("account")

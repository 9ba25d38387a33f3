"""What the /authorize pages show about a client, and where their forms go.

Shared by the consent view (oauth/views_authorize.py) and the sign-in page
that precedes it (accounts/views.py).
"""

from typing import Any

from django.http import QueryDict

from oauth.redirect_uris import redirect_host
from oauth.selectors import registered_redirect_origin


def authorize_form_action_origin(query: QueryDict) -> str | None:
    """The origin a form on a page of the /authorize request `query` may end at.

    The origin of the query's redirect URI when it is registered for the
    query's client (the consent POST, and a tenant choice or sign-in that
    /authorize then refuses, are answered with a redirect there); None
    otherwise.
    """
    return registered_redirect_origin(
        client_id=query.get("client_id", ""),
        redirect_uri=query.get("redirect_uri", ""),
    )


def registration_label(application: Any) -> str:
    """How the consent page describes where a client's identity comes from."""
    source = getattr(application, "registration_source", "")
    if source == "cimd":
        return f"client ID metadata document at {redirect_host(application.client_id)}"
    if source == "dcr":
        return "dynamically registered (unverified)"
    return "registered by an operator"

"""What an /authorize request keeps in the user's session.

Two things, each bound to the request's exact query string (its
fingerprint), so neither carries over to another request and a client
cannot preselect either:

- the tenant the user chose for the request (users with several tenants
  choose one before the consent page), forgotten once a decision is made;
- the one-time ids of the consent pages shown: a consent POST is honoured
  only with an id issued for its query and not used before. At most
  `MAX_PENDING_CONSENTS` are kept; older ones are dropped.
"""

import hashlib
import secrets

from django.http import HttpRequest

TENANT_CHOICE_SESSION_KEY = "oauth_tenant_choice"
CONSENT_SESSION_KEY = "oauth_consents"
MAX_PENDING_CONSENTS = 8
"""Consent pages a session may have open at once (older ids are dropped)."""


def request_fingerprint(request: HttpRequest) -> str:
    """A digest of the request's query string: what the session binds to."""
    return hashlib.sha256(request.META.get("QUERY_STRING", "").encode()).hexdigest()


def remember_tenant_choice(request: HttpRequest, tenant_id: int) -> None:
    """Record `tenant_id` as chosen for this request (and no other)."""
    request.session[TENANT_CHOICE_SESSION_KEY] = {
        "request": request_fingerprint(request),
        "tenant": tenant_id,
    }


def chosen_tenant_id(request: HttpRequest) -> int | None:
    """The tenant chosen for this very request; None if none was."""
    choice = request.session.get(TENANT_CHOICE_SESSION_KEY) or {}
    if choice.get("request") != request_fingerprint(request):
        return None
    return choice.get("tenant")


def forget_tenant_choice(request: HttpRequest) -> None:
    """Drop the choice once the request is decided."""
    request.session.pop(TENANT_CHOICE_SESSION_KEY, None)


def issue_consent_id(request: HttpRequest) -> str:
    """A new one-time id for a consent page shown for this request."""
    pending = dict(request.session.get(CONSENT_SESSION_KEY) or {})
    consent_id = secrets.token_urlsafe(16)
    pending[consent_id] = request_fingerprint(request)
    request.session[CONSENT_SESSION_KEY] = dict(
        list(pending.items())[-MAX_PENDING_CONSENTS:]
    )
    return consent_id


def claim_consent_id(request: HttpRequest) -> bool:
    """Use up the POST's consent id; True if it was issued for this query."""
    pending = dict(request.session.get(CONSENT_SESSION_KEY) or {})
    fingerprint = pending.pop(request.POST.get("consent_id", ""), None)
    request.session[CONSENT_SESSION_KEY] = pending
    return fingerprint is not None and secrets.compare_digest(
        fingerprint, request_fingerprint(request)
    )

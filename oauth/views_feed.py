"""The revocation feed that separate resource servers poll over HTTP.

`GET /resource-server/feed?since=<cursor>`, for confidential clients an
operator marked `is_resource_server`, authenticated as introspection is
(oauth/resource_server_clients.py): HTTP Basic client credentials; 401
`invalid_client` with `WWW-Authenticate: Basic`, 403 `unauthorized_client`
for any other client. The answer (JSON, no-store):

- `cursor`: pass it back as `since` for the next, incremental, answer;
- `full`: true when the answer is a snapshot of every unexpired entry
  (no `since`): the reader replaces what it had;
- `revocations`: entries (`kind` jti/user/client/tenant/grant, `subject`,
  `tenant_id`, `created_at`, `expires_at` in epoch seconds); incremental
  answers repeat the entries of the last 30 s (oauth/revocation_selectors.py);
- `disabled`: the users, tenants (pks) and clients (client_ids) refused
  outright, always complete.

Client secrets are stored hashed with the password hasher (PBKDF2: most of
a second of CPU per check), and a resource server polls about twice a
second: a successful check is remembered in this process for
_REMEMBER_SECONDS, keyed by an HMAC of the presented credentials, so the
hash is computed about once a minute per resource server. On every
request the client must still exist, be marked resource server and have
the very secret hash it had when checked, so a rotated secret
(`register_resource_server --rotate-secret`) stops the old one at once.
"""

import hashlib
import hmac
import time
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from oauth.errors import NO_STORE, oauth_error
from oauth.models import ClientProfile
from oauth.resource_server_clients import authenticate_resource_server
from oauth.revocation_selectors import load_disabled_subjects, load_revocations

_REMEMBER_SECONDS = 60.0
_MAX_REMEMBERED = 1024
# digest of the credentials -> (until, application pk, its stored secret hash)
_remembered: dict[bytes, tuple[float, int, str]] = {}


def _credentials_digest(request: HttpRequest) -> bytes | None:
    """A keyed digest of the Basic credentials presented, or None."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    key = hashlib.sha256(f"oauth.feed-client:{settings.SECRET_KEY}".encode()).digest()
    return hmac.new(key, value.strip().encode(), "sha256").digest()


def _still_remembered(digest: bytes | None) -> bool:
    """Whether these credentials were checked lately and nothing changed since."""
    entry = _remembered.get(digest) if digest is not None else None
    if entry is None or entry[0] < time.monotonic():
        return False
    _until, application_pk, secret_hash = entry
    return ClientProfile.objects.filter(
        application_id=application_pk,
        application__client_secret=secret_hash,
        is_resource_server=True,
    ).exists()


def _remember(digest: bytes | None, application: Any) -> None:
    if digest is None:
        return
    if len(_remembered) >= _MAX_REMEMBERED:
        _remembered.clear()
    until = time.monotonic() + _REMEMBER_SECONDS
    _remembered[digest] = (until, application.pk, application.client_secret)


def _refuse_unless_resource_server(request: HttpRequest) -> HttpResponse | None:
    """None for a resource-server client's request, else the refusal."""
    digest = _credentials_digest(request)
    if _still_remembered(digest):
        return None
    client = authenticate_resource_server(
        request, realm="resource-server-feed", action="read the revocation feed"
    )
    if isinstance(client, HttpResponse):
        return client
    _remember(digest, client)
    return None


@require_GET
def revocation_feed(request: HttpRequest) -> HttpResponse:
    """The feed (see the module docstring)."""
    refusal = _refuse_unless_resource_server(request)
    if refusal is not None:
        return refusal
    since = request.GET.get("since")
    if since is not None and not (since.isdigit() and len(since) <= 18):
        return oauth_error("invalid_request", "`since` must be a cursor we sent.")
    after_id = None if since is None else int(since)
    rows = load_revocations(after_id=after_id)
    disabled = load_disabled_subjects()
    cursor = max([after_id or 0, *(row.id for row in rows)])
    response = JsonResponse(
        {
            "cursor": str(cursor),
            "full": after_id is None,
            "revocations": [
                {
                    "kind": row.kind,
                    "subject": row.subject,
                    "tenant_id": row.tenant_id,
                    "created_at": row.created_at,
                    "expires_at": row.expires_at,
                }
                for row in rows
            ],
            "disabled": {
                "users": sorted(disabled.users),
                "tenants": sorted(disabled.tenants),
                "clients": sorted(disabled.clients),
            },
        }
    )
    for header, value in NO_STORE.items():
        response[header] = value
    return response

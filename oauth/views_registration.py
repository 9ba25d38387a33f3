"""Dynamic client registration (RFC 7591) and its management (RFC 7592).

DOT does the protocol; these views add the redirect-URI policy, the size
and rate limits, the expiry of never-used registrations, the audit row and
the exact echo of what the client sent (Claude Code compares it).
"""

import dataclasses
import json
import time
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.models import AccessToken, get_application_model
from oauth2_provider.utils import parse_bearer_token
from oauth2_provider.views.dynamic_client_registration import (
    DynamicClientRegistrationManagementView,
    DynamicClientRegistrationView,
)

from audit.models import AuditEvent
from audit.services import record_event
from oauth.errors import NO_STORE, oauth_error
from oauth.models import ClientProfile
from oauth.ratelimit import refuse_over_limit
from oauth.redirect_uris import (
    METADATA_URI_FIELDS,
    metadata_uri_problem,
    redirect_uri_problem,
)
from oauth.token_storage import hash_registration_token, stored_token

SUPPORTED_GRANTS = {"authorization_code", "refresh_token"}
SUPPORTED_AUTH_METHODS = {"none", "client_secret_basic", "client_secret_post"}


def client_address(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def parse_body(request: HttpRequest) -> tuple[Any, JsonResponse | None]:
    """The JSON body, or the 400 `invalid_client_metadata` answer for it.

    Nesting deeper than Python's recursion limit raises RecursionError, not
    ValueError; it is refused like any other body that is not JSON.
    """
    try:
        return json.loads(request.body or b"null"), None
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None, oauth_error(
            "invalid_client_metadata", "The body is not valid JSON."
        )


def registration_problem(data: Any) -> JsonResponse | None:
    """Check a registration body against this server's client policy."""
    if not isinstance(data, dict):
        return oauth_error("invalid_client_metadata", "The body must be a JSON object.")
    uris = data.get("redirect_uris")
    if not isinstance(uris, list) or not uris:
        return oauth_error(
            "invalid_redirect_uri", "redirect_uris must be a non-empty list."
        )
    if len(uris) > 10:
        return oauth_error("invalid_redirect_uri", "At most 10 redirect URIs.")
    for uri in uris:
        problem = redirect_uri_problem(uri)
        if problem:
            return oauth_error("invalid_redirect_uri", problem)
    grants = data.get("grant_types", ["authorization_code"])
    if not isinstance(grants, list) or not set(grants) <= SUPPORTED_GRANTS:
        return oauth_error(
            "invalid_client_metadata",
            "grant_types may contain only authorization_code and refresh_token.",
        )
    if "authorization_code" not in grants:
        return oauth_error(
            "invalid_client_metadata", "grant_types must include authorization_code."
        )
    responses = data.get("response_types", ["code"])
    if not isinstance(responses, list) or set(responses) != {"code"}:
        return oauth_error(
            "invalid_client_metadata", 'response_types must be ["code"].'
        )
    method = data.get("token_endpoint_auth_method", "client_secret_basic")
    if method not in SUPPORTED_AUTH_METHODS:
        return oauth_error(
            "invalid_client_metadata",
            "token_endpoint_auth_method must be none, client_secret_basic or "
            "client_secret_post.",
        )
    for field in ("client_name", "scope", "application_type"):
        if field in data and not isinstance(data[field], str):
            return oauth_error("invalid_client_metadata", f"{field} must be a string.")
    for field in METADATA_URI_FIELDS:
        problem = metadata_uri_problem(field, data[field]) if field in data else None
        if problem:
            return oauth_error("invalid_client_metadata", f"{problem}.")
    if len(data.get("client_name", "")) > 200:
        return oauth_error("invalid_client_metadata", "client_name is too long.")
    if data.get("application_type", "native") not in {"native", "web"}:
        return oauth_error(
            "invalid_client_metadata", "application_type must be native or web."
        )
    return None


def _echo_registration(
    data: dict[str, Any], response: dict[str, Any]
) -> dict[str, Any]:
    """Complete DOT's 201 body: every accepted field echoed, no nulls."""
    echoed = {
        "client_name": data.get("client_name"),
        "redirect_uris": data["redirect_uris"],
        "grant_types": data.get("grant_types", ["authorization_code"]),
        "response_types": data.get("response_types", ["code"]),
        "token_endpoint_auth_method": data.get(
            "token_endpoint_auth_method", "client_secret_basic"
        ),
        "application_type": data.get("application_type", "native"),
        "scope": data.get("scope"),
        "client_uri": data.get("client_uri"),
    }
    response.update({key: value for key, value in echoed.items() if value is not None})
    response["client_id_issued_at"] = int(time.time())
    if "client_secret" in response:
        response["client_secret_expires_at"] = 0  # never
    return {key: value for key, value in response.items() if value is not None}


@method_decorator(csrf_exempt, name="dispatch")
class RegistrationView(DynamicClientRegistrationView):
    """RFC 7591 open registration, with this server's redirect-URI policy and limits.

    The scope a client registers is echoed but grants nothing: scopes come
    from the user's membership at consent.
    """

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if len(request.body) > settings.OAUTH_REGISTRATION_MAX_BYTES:
            return oauth_error(
                "invalid_client_metadata",
                f"Registration bodies are limited to "
                f"{settings.OAUTH_REGISTRATION_MAX_BYTES} bytes.",
                status=HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            )
        address = client_address(request)
        refusal = refuse_over_limit(
            request,
            endpoint="/register",
            event=AuditEvent.Event.CLIENT_REGISTERED,
            per_address=settings.OAUTH_REGISTRATION_RATE_PER_ADDRESS,
            overall=settings.OAUTH_REGISTRATION_RATE_GLOBAL,
        )
        if refusal is not None:
            return refusal
        data, unreadable = parse_body(request)
        if unreadable is not None:
            return unreadable
        problem = registration_problem(data)
        if problem is not None:
            return problem
        with transaction.atomic():
            response = super().post(request, *args, **kwargs)
            if response.status_code != HTTPStatus.CREATED:
                return response
            body = _echo_registration(data, json.loads(response.content))
            hash_registration_token(body["registration_access_token"])
            application = get_application_model().objects.get(
                client_id=body["client_id"]
            )
            ClientProfile.objects.create(
                application=application,
                registration=ClientProfile.Registration.DYNAMIC,
                registered_from=address[:64],
                expires_at=timezone.now()
                + timezone.timedelta(seconds=settings.OAUTH_UNUSED_CLIENT_TTL_SECONDS),
            )
            record_event(
                event=AuditEvent.Event.CLIENT_REGISTERED,
                client_id=application.client_id,
                reason=f"{data.get('client_name', '')!s:.100} from {address}",
            )
        created = JsonResponse(body, status=HTTPStatus.CREATED)
        for header, value in NO_STORE.items():
            created[header] = value
        return created


@method_decorator(csrf_exempt, name="dispatch")
class RegistrationManagementView(DynamicClientRegistrationManagementView):
    """RFC 7592 read/update/delete, with the registration policy on updates.

    An update that omits token_endpoint_auth_method keeps the current one
    (DOT would otherwise turn a public client confidential with no secret).
    """

    def put(
        self, request: HttpRequest, client_id: str, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        data, unreadable = parse_body(request)
        if unreadable is not None:
            return unreadable
        application = (
            get_application_model().objects.filter(client_id=client_id).first()
        )
        if isinstance(data, dict) and application is not None:
            data.setdefault(
                "token_endpoint_auth_method",
                "none"
                if application.client_type == "public"
                else "client_secret_basic",
            )
            request._body = json.dumps(data).encode()
        problem = registration_problem(data)
        if problem is not None:
            return problem
        with transaction.atomic():
            response = super().put(request, client_id, *args, **kwargs)
            if response.status_code == HTTPStatus.OK:
                rotated = json.loads(response.content)["registration_access_token"]
                hash_registration_token(rotated)
        return response

    def _authenticate_registration_request(
        self, request: HttpRequest, client_id: str
    ) -> Any:
        # DOT looks the token up by the SHA-256 of what the request carries;
        # rows hold the token's keyed hash, whose SHA-256 that is. A private
        # method of DOT 3.4.1 (tests/oauth/test_token_storage.py pins it).
        header = request.META.get("HTTP_AUTHORIZATION", "")
        presented = parse_bearer_token(header)
        if presented is None:
            return super()._authenticate_registration_request(request, client_id)
        stored = stored_token(AccessToken, presented)
        request.META["HTTP_AUTHORIZATION"] = f"Bearer {stored}"
        try:
            auth = super()._authenticate_registration_request(request, client_id)
        finally:
            request.META["HTTP_AUTHORIZATION"] = header
        if isinstance(auth, HttpResponse):
            return auth
        # DOT echoes the presented token in its answers: the client's value.
        return dataclasses.replace(auth, presented_token=presented)

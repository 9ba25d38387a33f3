"""HTTP endpoints of the authorization server that wrap django-oauth-toolkit.

Registration (RFC 7591/7592), metadata (RFC 8414, RFC 9728), the JWKS and
introspection (RFC 7662, resource servers only). DOT does the protocol;
these views add policy and fill in what DOT leaves out.
"""

import json
import time
from http import HTTPStatus
from typing import Any

import jwt
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.models import get_application_model
from oauth2_provider.views import (
    IntrospectTokenView,
    OAuthProtectedResourceMetadataView,
    OAuthServerMetadataView,
)
from oauth2_provider.views.dynamic_client_registration import (
    DynamicClientRegistrationManagementView,
    DynamicClientRegistrationView,
)
from oauthlib.common import Request as OAuthlibRequest

from audit.models import AuditEvent
from audit.services import record_event
from oauth.keys import jwks
from oauth.models import ClientProfile
from oauth.ratelimit import hit
from oauth.redirect_uris import redirect_uri_problem

SUPPORTED_GRANTS = {"authorization_code", "refresh_token"}
SUPPORTED_AUTH_METHODS = {"none", "client_secret_basic", "client_secret_post"}
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def oauth_error(
    error: str, description: str, status: int = HTTPStatus.BAD_REQUEST
) -> JsonResponse:
    """An RFC 6749 §5.2-shaped error response, never cached."""
    response = JsonResponse(
        {"error": error, "error_description": description}, status=status
    )
    for header, value in NO_STORE.items():
        response[header] = value
    return response


def client_address(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "") or "unknown"


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
    for field in ("client_name", "scope", "application_type", "client_uri"):
        if field in data and not isinstance(data[field], str):
            return oauth_error("invalid_client_metadata", f"{field} must be a string.")
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
        if not hit(
            key=f"register:addr:{address}",
            limit=settings.OAUTH_REGISTRATION_RATE_PER_ADDRESS,
        ) or not hit(key="register:all", limit=settings.OAUTH_REGISTRATION_RATE_GLOBAL):
            response = oauth_error(
                "temporarily_unavailable",
                "Too many registrations; retry in a minute.",
                status=HTTPStatus.TOO_MANY_REQUESTS,
            )
            response["Retry-After"] = "60"
            return response
        try:
            data = json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError):
            return oauth_error("invalid_client_metadata", "The body is not valid JSON.")
        problem = registration_problem(data)
        if problem is not None:
            return problem
        with transaction.atomic():
            response = super().post(request, *args, **kwargs)
            if response.status_code != HTTPStatus.CREATED:
                return response
            body = _echo_registration(data, json.loads(response.content))
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
        try:
            data = json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError):
            return oauth_error("invalid_client_metadata", "The body is not valid JSON.")
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
        return super().put(request, client_id, *args, **kwargs)


class ServerMetadataView(OAuthServerMetadataView):
    """RFC 8414 metadata: DOT's, plus jwks_uri, with nothing null or false-y noise."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        data = json.loads(super().get(request, *args, **kwargs).content)
        data["issuer"] = settings.PUBLIC_URL
        data["jwks_uri"] = f"{settings.PUBLIC_URL}/.well-known/jwks.json"
        data["scopes_supported"] = list(settings.OAUTH_SCOPES)
        data["code_challenge_methods_supported"] = ["S256"]
        if not data.get("client_id_metadata_document_supported"):
            data.pop("client_id_metadata_document_supported", None)
        data = {key: value for key, value in data.items() if value is not None}
        response = JsonResponse(data)
        response["Access-Control-Allow-Origin"] = "*"
        response["Cache-Control"] = "public, max-age=300"
        return response


class ProtectedResourceMetadataView(OAuthProtectedResourceMetadataView):
    """RFC 9728 metadata for /mcp, at the root and the path-suffixed URL."""

    def get_resource(self, request: HttpRequest) -> str:
        return settings.MCP_RESOURCE_URL

    def get_authorization_servers(self, request: HttpRequest) -> list[str]:
        return [settings.PUBLIC_URL]

    def get_scopes_supported(self) -> list[str]:
        return list(settings.OAUTH_SCOPES)

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        resource_path = kwargs.get("resource_path")
        if resource_path is not None and resource_path.strip("/") != "mcp":
            return oauth_error(
                "not_found", "No protected resource at that path.", HTTPStatus.NOT_FOUND
            )
        response = super().get(request)
        response["Access-Control-Allow-Origin"] = "*"
        return response


def jwks_view(request: HttpRequest) -> JsonResponse:
    """The JSON Web Key Set that verifies every live access token."""
    response = JsonResponse(jwks())
    response["Cache-Control"] = "public, max-age=60"
    response["Access-Control-Allow-Origin"] = "*"
    return response


@method_decorator(csrf_exempt, name="dispatch")
class ResourceServerIntrospectView(IntrospectTokenView):
    """RFC 7662 introspection for clients an operator marked as resource servers.

    DOT would answer any authenticated client, which with open registration
    means anyone; here only a confidential client whose profile says
    `is_resource_server` may ask.
    """

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        core = self.get_oauthlib_core()
        uri, http_method, body, headers = core._extract_params(request)
        oauthlib_request = OAuthlibRequest(uri, http_method, body, headers)
        if not core.server.request_validator.authenticate_client(oauthlib_request):
            response = oauth_error(
                "invalid_client",
                "Client authentication failed.",
                HTTPStatus.UNAUTHORIZED,
            )
            response["WWW-Authenticate"] = 'Basic realm="introspection"'
            return response
        client = oauthlib_request.client
        if not ClientProfile.objects.filter(
            application=client, is_resource_server=True
        ).exists():
            return oauth_error(
                "unauthorized_client",
                "Only resource servers may introspect tokens.",
                HTTPStatus.FORBIDDEN,
            )
        return View.dispatch(self, request, *args, **kwargs)

    @staticmethod
    def get_token_response(token_value: str | None = None) -> JsonResponse:
        response = IntrospectTokenView.get_token_response(token_value)
        data = json.loads(response.content)
        if data.get("active"):
            try:
                claims = jwt.decode(
                    token_value or "", options={"verify_signature": False}
                )
            except jwt.PyJWTError:
                claims = {}
            # The JWT is authoritative: DOT stores `expires` a moment after
            # the token's own `exp` was set, so they can differ by a second.
            for claim in ("sub", "tenant_id", "iss", "jti", "iat", "exp"):
                if claim in claims:
                    data[claim] = claims[claim]
            if "aud" in claims:
                data["aud"] = claims["aud"]
            data["token_type"] = "Bearer"  # noqa: S105 - a token type name
            data.pop("username", None)
        result = JsonResponse(data, status=response.status_code)
        for header, value in NO_STORE.items():
            result[header] = value
        return result

"""HTTP endpoints of the authorization server that wrap django-oauth-toolkit.

Metadata (RFC 8414, RFC 9728), the JWKS, the token endpoint (DOT's, behind
a per-address limit) and introspection (RFC 7662, resource servers only);
registration is oauth/views_registration.py. DOT
does the protocol; these views add policy and fill in what DOT leaves out.
"""

import json
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from oauth2_provider.models import AccessToken
from oauth2_provider.signals import app_authorized
from oauth2_provider.views import (
    IntrospectTokenView,
    OAuthProtectedResourceMetadataView,
    OAuthServerMetadataView,
)
from oauth2_provider.views import TokenView as DOTTokenView

from audit.models import AuditEvent
from oauth.errors import NO_STORE, oauth_error
from oauth.keys import jwks
from oauth.ratelimit import refuse_over_limit
from oauth.resource_server_clients import authenticate_resource_server
from oauth.token_hashing import checksum, unverified_claims
from oauth.token_storage import stored_token


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
        # In resource-server mode the configured issuer; else this server.
        return [settings.MCP_AUTHORIZATION_SERVER or settings.PUBLIC_URL]

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
    """The JSON Web Key Set that verifies every live access token.

    Cacheable for OAUTH_JWKS_MAX_AGE_SECONDS: a rotated-in key is published
    longer than that before it signs (oauth/keys.py, oauth.E002).
    """
    response = JsonResponse(jwks())
    max_age = settings.OAUTH_JWKS_MAX_AGE_SECONDS
    response["Cache-Control"] = f"public, max-age={max_age}"
    response["Access-Control-Allow-Origin"] = "*"
    return response


class TokenView(DOTTokenView):
    """DOT's token endpoint, with OAUTH_TOKEN_RATE_PER_ADDRESS requests a minute.

    Over the limit: 429 `too_many_requests` with Retry-After (oauth/ratelimit.py),
    audited as a refused `token_issued`, before DOT reads the request.
    """

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        refusal = refuse_over_limit(
            request,
            endpoint="/token",
            event=AuditEvent.Event.TOKEN_ISSUED,
            per_address=settings.OAUTH_TOKEN_RATE_PER_ADDRESS,
        )
        if refusal is not None:
            return refusal
        response = super().post(request, *args, **kwargs)
        if response.status_code >= HTTPStatus.BAD_REQUEST:
            # An error oauthlib raised while the token was being made (the
            # generator, the save) reaches DOT without oauthlib's headers:
            # the body is RFC 6749 §5.2 JSON all the same.
            response["Content-Type"] = "application/json"
            response["Cache-Control"] = "no-store"
        return response

    @method_decorator(sensitive_post_parameters("password", "client_secret"))
    def authorization_flow_token_response(
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        """DOT's, but finding the issued token's row by its keyed hash.

        DOT reads the row back by the SHA-256 of the value for its
        `app_authorized` signal; rows hold the value's keyed hash. Copied
        from DOT 3.4.1 (tests/oauth/test_token_storage.py pins the version).
        """
        _url, headers, body, status = self.create_token_response(request)
        ok = status == HTTPStatus.OK
        value = json.loads(body).get("access_token") if ok else None
        if value is not None:
            stored = checksum(stored_token(AccessToken, value))
            token = AccessToken.objects.get(token_checksum=stored)
            app_authorized.send(sender=self, request=request, token=token)
        response = HttpResponse(content=body, status=status)
        for header, header_value in headers.items():
            response[header] = header_value
        return response


@method_decorator(csrf_exempt, name="dispatch")
class ResourceServerIntrospectView(IntrospectTokenView):
    """RFC 7662 introspection for clients an operator marked as resource servers.

    DOT would answer any authenticated client, which with open registration
    means anyone; here only a confidential client whose profile says
    `is_resource_server` may ask.
    """

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        client = authenticate_resource_server(
            request, realm="introspection", action="introspect tokens"
        )
        if isinstance(client, HttpResponse):
            return client
        return View.dispatch(self, request, *args, **kwargs)

    @staticmethod
    def get_token_response(token_value: str | None = None) -> JsonResponse:
        # DOT looks the row up by the SHA-256 of what it is given; rows hold
        # the token's keyed hash, whose SHA-256 that is (oauth/token_hashing.py).
        stored = None if token_value is None else stored_token(AccessToken, token_value)
        response = IntrospectTokenView.get_token_response(stored)
        data = json.loads(response.content)
        if data.get("active"):
            # The presented token is a JWT this server signed (its row says so).
            claims = unverified_claims(token_value or "") or {}
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

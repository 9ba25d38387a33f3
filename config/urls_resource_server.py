"""The routes of a resource server (MCP_AUTHORIZATION_SERVER set).

Only what a resource server owns: its RFC 9728 metadata (naming the
configured issuer) and the health endpoints; /mcp is routed by
config/router.py and /metrics, in both modes, by config/request_observer.py
(for allowed addresses; any other gets this 404). Every
authorization-server route (/authorize, /token, /register, /revoke,
/introspect, the JWKS, the RFC 8414 metadata, the revocation feed,
sign-in, account pages and the admin console) is absent:
Django answers 404, and nothing here reads an OAuth table.
"""

from django.http import HttpRequest, JsonResponse
from django.urls import include, path, re_path

from config.health_views import healthz, readyz
from oauth.views import ProtectedResourceMetadataView

resource_metadata = [
    path(
        ".well-known/oauth-protected-resource",
        ProtectedResourceMetadataView.as_view(),
        name="oauth-resource-metadata",
    ),
    re_path(
        r"^\.well-known/oauth-protected-resource/(?P<resource_path>.+)$",
        ProtectedResourceMetadataView.as_view(),
        name="oauth-resource-metadata-path",
    ),
]

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("", include((resource_metadata, "oauth2_provider"))),
]


def not_found(request: HttpRequest, exception: Exception) -> JsonResponse:
    """JSON 404: the site's HTML pages (and their links) are not served here."""
    return JsonResponse(
        {
            "error": "not_found",
            "error_description": "Not served by this resource server.",
        },
        status=404,
    )


handler404 = not_found

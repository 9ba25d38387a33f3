"""Root-level OAuth endpoints, no trailing slashes, under DOT's URL names.

DOT's metadata view builds endpoint URLs with reverse("oauth2_provider:…"),
so these keep its names inside that namespace.
"""

from django.urls import path, re_path
from oauth2_provider import views as dot_views

from oauth import views, views_feed, views_registration
from oauth.views_authorize import MCPAuthorizationView

app_name = "oauth2_provider"

urlpatterns = [
    path("authorize", MCPAuthorizationView.as_view(), name="authorize"),
    path("token", views.TokenView.as_view(), name="token"),
    path("revoke", dot_views.RevokeTokenView.as_view(), name="revoke-token"),
    path(
        "introspect",
        views.ResourceServerIntrospectView.as_view(),
        name="introspect",
    ),
    path(
        "register", views_registration.RegistrationView.as_view(), name="dcr-register"
    ),
    path(
        "register/<str:client_id>",
        views_registration.RegistrationManagementView.as_view(),
        name="dcr-register-management",
    ),
    path(
        ".well-known/oauth-authorization-server",
        views.ServerMetadataView.as_view(),
        name="oauth-server-metadata",
    ),
    path(
        ".well-known/oauth-protected-resource",
        views.ProtectedResourceMetadataView.as_view(),
        name="oauth-resource-metadata",
    ),
    re_path(
        r"^\.well-known/oauth-protected-resource/(?P<resource_path>.+)$",
        views.ProtectedResourceMetadataView.as_view(),
        name="oauth-resource-metadata-path",
    ),
    path(".well-known/jwks.json", views.jwks_view, name="jwks-info"),
    path(
        "resource-server/feed",
        views_feed.revocation_feed,
        name="resource-server-feed",
    ),
]

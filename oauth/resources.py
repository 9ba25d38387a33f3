"""The RFC 8707 allow-list: this server's /mcp and the registered resources.

Every token is for exactly one resource, which becomes its `aud`: this
server's MCP endpoint (PUBLIC_URL + "/mcp", also when no `resource` is
given) or an enabled resource server an operator registered
(oauth/resource_servers.py).
"""

from django.conf import settings
from oauthlib.common import Request
from oauthlib.oauth2.rfc6749 import errors

from oauth.models import ResourceServer
from oauth.resource_servers import enabled_resource


def normalize_resource(uri: str) -> str | None:
    """Return the resource `uri` names, canonically, or None if it is not ours.

    This server's own: a single trailing slash is tolerated; scheme, host,
    port and path must otherwise equal PUBLIC_URL + "/mcp" exactly. A
    registered one: equal to its URL once both are canonical.
    """
    candidate = uri.strip()
    if candidate.endswith("/"):
        candidate = candidate[:-1]
    if candidate == settings.MCP_RESOURCE_URL:
        return settings.MCP_RESOURCE_URL
    return enabled_resource(uri)


def allowed_resources(uris: list[str]) -> list[str] | None:
    """The one resource `uris` request, as a list; None if not allowed.

    No resource at all means this server's MCP resource. None when any is
    neither ours nor registered and enabled, or when they name more than
    one resource (one resource per token).
    """
    if not uris:
        return [settings.MCP_RESOURCE_URL]
    normalized = {normalize_resource(uri) for uri in uris}
    if None in normalized or len(normalized) != 1:
        return None
    return sorted(value for value in normalized if value is not None)


def describe_resource(uris: list[str]) -> str:
    """Where a token for `uris` will be used, in words for the consent page.

    The registered name and URL of a resource server, or this server's own
    MCP endpoint; empty when `uris` are not allowed.
    """
    allowed = allowed_resources(uris)
    if allowed is None:
        return ""
    (resource,) = allowed
    if resource == settings.MCP_RESOURCE_URL:
        return f"this server's MCP endpoint ({resource})"
    name = (
        ResourceServer.objects.filter(resource=resource)
        .values_list("name", flat=True)
        .first()
    )
    return f"{name} ({resource})" if name else resource


def invalid_target(request: Request) -> errors.CustomOAuth2Error:
    """The token endpoint's RFC 8707 error for a resource not allowed."""
    return errors.CustomOAuth2Error(
        error="invalid_target",
        description="resource must be one resource: this server's MCP "
        "endpoint or an enabled registered resource server.",
        request=request,
    )

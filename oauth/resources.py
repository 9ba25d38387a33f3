"""The RFC 8707 resource allow-list: this server's MCP endpoint, nothing else."""

from django.conf import settings


def normalize_resource(uri: str) -> str | None:
    """Return the canonical MCP resource for `uri`, or None if it is not ours.

    A single trailing slash is tolerated; scheme, host, port and path must
    otherwise equal PUBLIC_URL + "/mcp" exactly.
    """
    candidate = uri.strip()
    if candidate.endswith("/"):
        candidate = candidate[:-1]
    return settings.MCP_RESOURCE_URL if candidate == settings.MCP_RESOURCE_URL else None


def allowed_resources(uris: list[str]) -> list[str] | None:
    """Normalize a list of requested resources; None if any is not ours.

    No resource at all means this server's MCP resource: every token this
    server issues is for /mcp.
    """
    if not uris:
        return [settings.MCP_RESOURCE_URL]
    normalized = [normalize_resource(uri) for uri in uris]
    if any(value is None for value in normalized):
        return None
    return sorted({value for value in normalized if value is not None})

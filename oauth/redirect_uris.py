"""URI policy for registered clients (RFC 8252, OAuth 2.1, RFC 7591 §2).

Redirect URIs: https anywhere, or http on a loopback host (localhost,
127.0.0.1, [::1]), which then matches on any port (RFC 8252 §7.3). No
fragments, no userinfo, no other schemes.

The metadata URIs a client describes itself with (`client_uri`,
`logo_uri`, `tos_uri`, `policy_uri`) may end up as links or images in a
page: the same schemes only (never `javascript:` or `data:`).
"""

from urllib.parse import urlsplit

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def redirect_uri_problem(uri: object) -> str | None:
    """Return why `uri` may not be registered, or None when it may."""
    if not isinstance(uri, str) or not uri:
        return "each redirect URI must be a non-empty string"
    if len(uri) > 2000:
        return "redirect URI is longer than 2000 characters"
    if any(ch.isspace() for ch in uri):
        return f"redirect URI {uri!r} contains white space"
    try:
        parts = urlsplit(uri)
        port = parts.port  # raises ValueError on a malformed port
    except ValueError:
        return f"redirect URI {uri!r} is not a valid URI"
    del port
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        return f"redirect URI {uri!r} must use https (or http on a loopback host)"
    if "#" in uri:
        return f"redirect URI {uri!r} must not contain a fragment"
    if not parts.hostname:
        return f"redirect URI {uri!r} has no host"
    if parts.username or parts.password:
        return f"redirect URI {uri!r} must not contain user information"
    if scheme == "http" and parts.hostname.lower() not in LOOPBACK_HOSTS:
        return (
            f"redirect URI {uri!r} uses http on a non-loopback host; "
            "use https, or http://localhost, http://127.0.0.1 or http://[::1]"
        )
    return None


def redirect_host(uri: str) -> str:
    """The host (and port, if any) a redirect URI sends the user to."""
    parts = urlsplit(uri)
    return parts.netloc.rsplit("@", 1)[-1]


def redirect_origin(uri: str) -> str | None:
    """`uri`'s origin as a CSP source (`scheme://host[:port]`), or None.

    None for a URI without an http(s) scheme or a host, and for an IPv6
    host, which CSP source expressions cannot name.
    """
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in {"http", "https"} or not host or ":" in host:
        return None
    return f"{scheme}://{host}" + (f":{port}" if port is not None else "")


METADATA_URI_FIELDS = ("client_uri", "logo_uri", "tos_uri", "policy_uri")


def metadata_uri_problem(field: str, uri: object) -> str | None:
    """Return why `uri` may not be the client's `field`, or None when it may.

    https, or http on a loopback host; a string of at most 2000 characters
    with a host, no white space and no user information.
    """
    if not isinstance(uri, str) or not uri:
        return f"{field} must be a non-empty string"
    if len(uri) > 2000 or any(ch.isspace() for ch in uri):
        return f"{field} must be a URL without white space, at most 2000 characters"
    try:
        parts = urlsplit(uri)
        port = parts.port  # raises ValueError on a malformed port
    except ValueError:
        return f"{field} is not a valid URL"
    del port
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    allowed_scheme = scheme == "https" or (scheme == "http" and host in LOOPBACK_HOSTS)
    if allowed_scheme and host and not (parts.username or parts.password):
        return None
    return f"{field} must be an https URL (or http on a loopback host)"

"""Redirect-URI policy for registered clients (RFC 8252, OAuth 2.1).

https anywhere, or http on a loopback host (localhost, 127.0.0.1, [::1]),
which then matches on any port (RFC 8252 §7.3). No fragments, no
userinfo, no other schemes.
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

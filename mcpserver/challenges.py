"""The `WWW-Authenticate` challenges of /mcp (RFC 6750 §3, RFC 9728 §5.1).

Every challenge names the absolute protected-resource metadata URL, so a
client that knows only the MCP URL can discover the authorization server.
"""

from django.conf import settings

from tenants.models import SCOPE_TOOLS_CALL

RESOURCE_METADATA_PATH = "/.well-known/oauth-protected-resource/mcp"
CHALLENGE_SCOPE = SCOPE_TOOLS_CALL


def resource_metadata_url() -> str:
    """The absolute RFC 9728 metadata URL advertised in every challenge."""
    return settings.PUBLIC_URL + RESOURCE_METADATA_PATH


def _challenge(params: list[tuple[str, str]]) -> str:
    return "Bearer " + ", ".join(f'{name}="{value}"' for name, value in params)


def no_token_challenge() -> str:
    """RFC 6750 §3: no error code when the request carried no credentials."""
    return _challenge(
        [("resource_metadata", resource_metadata_url()), ("scope", CHALLENGE_SCOPE)]
    )


def error_challenge(error: str) -> str:
    """The challenge for an `invalid_token` or `invalid_request` refusal."""
    return _challenge(
        [
            ("error", error),
            ("resource_metadata", resource_metadata_url()),
            ("scope", CHALLENGE_SCOPE),
        ]
    )


def insufficient_scope_challenge(required_scopes: list[str]) -> str:
    """The step-up challenge naming every scope the call needs."""
    return _challenge(
        [
            ("error", "insufficient_scope"),
            ("scope", " ".join(required_scopes)),
            ("resource_metadata", resource_metadata_url()),
        ]
    )

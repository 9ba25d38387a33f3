"""Settings of the OAuth 2.1 authorization server (django-oauth-toolkit).

Imported by config/settings.py (which has already loaded `.env` into the
environment), as config/mcp_settings.py is; every upper-case name here is
a Django setting and is read as `settings.NAME`. `OAUTH2_PROVIDER`, which
derives from the public URL, is built by `provider_settings`.
"""

from typing import Any

import environ

env = environ.Env()

ACCESS_TOKEN_LIFETIME_SECONDS = env.int("ACCESS_TOKEN_LIFETIME_SECONDS", default=900)
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH_SCOPES = {
    "tools:call": "Call the tools your tenant has enabled",
    "admin": "Administrative tools (tenant admins only)",
}
# Tests only (never from the environment): fetch https://127.0.0.1 client ID
# metadata documents over plain http from a local document server.
OAUTH_CIMD_ALLOW_LOOPBACK_HTTP = False
# Dynamic registrations never used within this many seconds expire.
OAUTH_UNUSED_CLIENT_TTL_SECONDS = env.int(
    "OAUTH_UNUSED_CLIENT_TTL_SECONDS", default=24 * 3600
)
# Registration limits: body size, and requests per minute per address and
# in total (so rotating addresses does not lift the ceiling).
OAUTH_REGISTRATION_MAX_BYTES = env.int("OAUTH_REGISTRATION_MAX_BYTES", default=16384)
OAUTH_REGISTRATION_RATE_PER_ADDRESS = env.int(
    "OAUTH_REGISTRATION_RATE_PER_ADDRESS", default=30
)
OAUTH_REGISTRATION_RATE_GLOBAL = env.int("OAUTH_REGISTRATION_RATE_GLOBAL", default=300)
# Key rotation: a new signing key is in the JWKS this long before it signs,
# which must exceed how long resource servers may cache the JWKS (oauth.E002).
OAUTH_JWKS_MAX_AGE_SECONDS = env.int("OAUTH_JWKS_MAX_AGE_SECONDS", default=300)
OAUTH_SIGNING_KEY_PREPUBLISH_SECONDS = env.int(
    "OAUTH_SIGNING_KEY_PREPUBLISH_SECONDS", default=600
)
# /token requests per minute per address (0: no limit); generous, since
# many users may share one address behind a NAT.
OAUTH_TOKEN_RATE_PER_ADDRESS = env.int("OAUTH_TOKEN_RATE_PER_ADDRESS", default=600)


def provider_settings(public_url: str, resource_url: str) -> dict[str, Any]:
    """DOT's OAUTH2_PROVIDER for the issuer `public_url` (PUBLIC_URL) and
    the MCP resource `resource_url` (MCP_RESOURCE_URL)."""
    return {
        # Only the authorization-code and refresh-token grants exist, whatever a
        # dynamically registered client asks for.
        "OAUTH2_SERVER_CLASS": "oauthlib.oauth2.WebApplicationServer",
        "OAUTH2_VALIDATOR_CLASS": "oauth.validators.MCPOAuth2Validator",
        "SCOPES": OAUTH_SCOPES,
        "DEFAULT_SCOPES": ["tools:call"],
        "PKCE_REQUIRED": True,
        "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
        "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
        "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
        "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
        "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
        "OIDC_ISS_ENDPOINT": public_url,
        "ACCESS_TOKEN_EXPIRE_SECONDS": ACCESS_TOKEN_LIFETIME_SECONDS,
        "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
        "REFRESH_TOKEN_EXPIRE_SECONDS": env.int(
            "REFRESH_TOKEN_LIFETIME_SECONDS", default=30 * 24 * 3600
        ),
        "ACCESS_TOKEN_GENERATOR": "oauth.generators.signed_access_token",
        # Without this, oauthlib reuses the JWT generator for refresh tokens.
        "REFRESH_TOKEN_GENERATOR": (
            "oauthlib.oauth2.rfc6749.tokens.random_token_generator"
        ),
        "ROTATE_REFRESH_TOKEN": True,
        "REFRESH_TOKEN_REUSE_PROTECTION": True,
        # A concurrent retry inside this window gets the same successor; a replay
        # after it revokes the whole family. Token values are stored as keyed
        # hashes by oauth/token_storage.py, which keeps this window working; DOT's
        # own COMPLIANT_BCP_RFC9700_TOKEN_STORAGE cannot, so it stays off.
        "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": env.int(
            "REFRESH_TOKEN_GRACE_SECONDS", default=10
        ),
        "REQUEST_APPROVAL_PROMPT": "force",
        "ALLOW_LOCALHOST_LOOPBACK": True,
        "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"],
        "DCR_ENABLED": True,
        # Clients whose client_id is an https URL (Claude Code's is on claude.ai)
        # are fetched from it; a server with no route out turns this off, and
        # such clients then register at /register instead.
        "CIMD_ENABLED": env.bool("OAUTH_CIMD_ENABLED", default=True),
        "CIMD_METADATA_FETCHER": "oauth.cimd.PolicyMetadataFetcher",
        "DCR_REGISTRATION_PERMISSION_CLASSES": (
            "oauth2_provider.dcr.AllowAllDCRPermission",
        ),
        "OAUTH2_RESPONSE_TYPES_SUPPORTED": ["code"],
        "OAUTH2_GRANT_TYPES_SUPPORTED": ["authorization_code", "refresh_token"],
        "OAUTH2_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": [
            "none",
            "client_secret_basic",
            "client_secret_post",
        ],
        "OAUTH2_PROTECTED_RESOURCE_IDENTIFIER": resource_url,
        "OAUTH2_PROTECTED_RESOURCE_AUTHORIZATION_SERVERS": [public_url],
        "OAUTH2_PROTECTED_RESOURCE_BEARER_METHODS_SUPPORTED": ["header"],
        "OAUTH2_PROTECTED_RESOURCE_NAME": env(
            "MCP_RESOURCE_NAME", default="MCP server (Django reference)"
        ),
    }

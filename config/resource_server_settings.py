"""Settings of the split deployment (resource-server mode) and token checks.

Imported by config/settings.py (which has already loaded `.env` into the
environment). With MCP_AUTHORIZATION_SERVER unset, one process is both the
authorization server and the resource server, as it always was; set, the
process is a resource server that trusts that issuer over HTTP only
(README "Split deployment").
"""

import environ
from django.core.exceptions import ImproperlyConfigured

env = environ.Env()

# The issuer identifier (RFC 8414 `issuer`) this resource server trusts;
# empty: this process is its own authorization server.
MCP_AUTHORIZATION_SERVER = env("MCP_AUTHORIZATION_SERVER", default="")
# Client credentials of this resource server at the issuer (a confidential
# client marked resource server), for the revocation feed.
MCP_AUTHORIZATION_SERVER_CLIENT_ID = env(
    "MCP_AUTHORIZATION_SERVER_CLIENT_ID", default=""
)
MCP_AUTHORIZATION_SERVER_CLIENT_SECRET = env(
    "MCP_AUTHORIZATION_SERVER_CLIENT_SECRET", default=""
)
# The revocation feed; empty: <issuer>/resource-server/feed.
MCP_REVOCATION_FEED_URL = env("MCP_REVOCATION_FEED_URL", default="")
# Bound on one HTTP exchange with the issuer (metadata, JWKS, feed).
MCP_ISSUER_TIMEOUT_SECONDS = env.float("MCP_ISSUER_TIMEOUT_SECONDS", default=2.0)
# JWKS kept for the issuer's Cache-Control max-age, but never longer.
MCP_JWKS_MAX_CACHE_SECONDS = env.float("MCP_JWKS_MAX_CACHE_SECONDS", default=300.0)
# An unknown `kid` refetches the JWKS at most this often per process.
MCP_JWKS_UNKNOWN_KID_INTERVAL_SECONDS = env.float(
    "MCP_JWKS_UNKNOWN_KID_INTERVAL_SECONDS", default=10.0
)
# Past this without a good revocation feed, tokens never accepted before
# are refused (fail closed); before it, the last good feed is used.
MCP_ISSUER_UNREACHABLE_SECONDS = env.float(
    "MCP_ISSUER_UNREACHABLE_SECONDS", default=60.0
)

# Which claims carry the tenant (its primary key in the shared database)
# and the scopes (a space-separated string, or in resource-server mode a
# JSON list of strings). `sub` is always the user's primary key.
MCP_TOKEN_TENANT_CLAIM = env("MCP_TOKEN_TENANT_CLAIM", default="tenant_id")
MCP_TOKEN_SCOPE_CLAIM = env("MCP_TOKEN_SCOPE_CLAIM", default="scope")

# Clock skew tolerated on exp/nbf/iat (seconds).
MCP_CLOCK_LEEWAY_SECONDS = env.float("MCP_CLOCK_LEEWAY_SECONDS", default=60.0)
# Tests only: shift this process's clock for token checks (seconds). It
# takes MCP_TEST_HOOKS=true as well, so no server runs with a shifted
# clock by a single stray variable.
MCP_TEST_HOOKS = env.bool("MCP_TEST_HOOKS", default=False)
MCP_TEST_CLOCK_OFFSET_SECONDS = env.float("MCP_TEST_CLOCK_OFFSET_SECONDS", default=0.0)
if MCP_TEST_CLOCK_OFFSET_SECONDS and not MCP_TEST_HOOKS:
    raise ImproperlyConfigured(
        "MCP_TEST_CLOCK_OFFSET_SECONDS is for tests only: it needs "
        "MCP_TEST_HOOKS=true too."
    )
if MCP_AUTHORIZATION_SERVER and not MCP_AUTHORIZATION_SERVER.startswith(
    ("https://", "http://")
):
    raise ImproperlyConfigured("MCP_AUTHORIZATION_SERVER must be an http(s) URL.")

"""Django settings: one module, every difference between environments from env vars.

`.env` (created from `.env.example` by `make run`/`make test`) fills in what
the real environment does not set; real environment variables always win.
"""

from pathlib import Path

import environ

from config.database_settings import database_settings

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY")  # no default: fail fast
ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"]
)

# The one public base URL (DESIGN invariant 5). The issuer, the MCP resource
# identifier, every metadata URL and the JWT audience derive from it.
PUBLIC_URL = env("PUBLIC_URL", default="http://localhost:8000").rstrip("/")
MCP_RESOURCE_URL = f"{PUBLIC_URL}/mcp"

INSTALLED_APPS = [
    "config.admin_site.ConsoleAdminConfig",  # django.contrib.admin, our site
    # Before django.contrib.auth: the first app's management command of a
    # name wins, and accounts' createsuperuser validates --noinput passwords.
    "accounts",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "oauth2_provider",
    "tenants",
    "audit",
    "oauth",
    "mcpserver",
    "harness",
    # The demo tools (demo/mcp_tools.py), written with the public tool API.
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # The Content-Security-Policy of every HTML page (Django has none).
    "config.security_headers.ContentSecurityPolicyMiddleware",
    # uvicorn serves no files: /static/ (the admin's and the pages' CSS) is
    # answered here, from STATIC_ROOT, before sessions, CSRF and auth run.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Audit rows made under a web request record its address and user agent.
    "audit.request_source.RequestSourceMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
# The OAuth endpoints live at the root without a trailing slash
# (/authorize, /token, ...); never redirect them to a slashed form.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

ASGI_APPLICATION = "config.asgi.application"


# How long a /mcp request may wait on the database before it is answered 503
# with Retry-After (mcpserver/db.py).
MCP_DB_TIMEOUT_SECONDS = env.float("MCP_DB_TIMEOUT_SECONDS", default=2.0)


DATABASES = {
    "default": database_settings(
        env("DATABASE_URL", default="sqlite:///db.sqlite3"),
        base_dir=BASE_DIR,
        timeout_seconds=MCP_DB_TIMEOUT_SECONDS,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# django-environ 0.14 passes ?key_prefix=, ?timeout= and ?version= on in
# lower case, where Django ignores them: upper-cased, they take effect.
CACHES = {
    "default": {
        key.upper(): value
        for key, value in env.cache_url("CACHE_URL", default="locmemcache://").items()
    }
}

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "account"
LOGOUT_REDIRECT_URL = "home"

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation."
        "UserAttributeSimilarityValidator"
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Security headers and cookies -------------------------------------------
# SecurityMiddleware sends nosniff and the referrer policy on every Django
# response; config/security_headers.py adds the CSP to HTML pages and
# nosniff at /mcp. Served over https (PUBLIC_URL), the cookies are
# https-only and browsers are told to use https for a year (HSTS), this
# host's subdomains included.
PUBLIC_HTTPS = PUBLIC_URL.startswith("https://")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = PUBLIC_HTTPS
CSRF_COOKIE_SECURE = PUBLIC_HTTPS
CSRF_TRUSTED_ORIGINS = [PUBLIC_URL]
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_HSTS_SECONDS = (
    env.int("DJANGO_SECURE_HSTS_SECONDS", default=365 * 24 * 3600)
    if PUBLIC_HTTPS
    else 0
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool(
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True
)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
# TLS normally ends at a proxy in front of uvicorn, which redirects plain
# http itself; Django redirecting too would loop unless it trusts the
# proxy's X-Forwarded-Proto. Off by default, for a server reached directly.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
# Opt-in: trust X-Forwarded-Proto from any peer. Only behind a proxy that
# always sets (overwrites) it; uvicorn already honours it from a proxy on
# 127.0.0.1 (--forwarded-allow-ips), so a local proxy needs nothing here.
if env.bool("DJANGO_SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# `manage.py check --deploy` is clean under the production settings
# (tests/config/test_deploy_settings.py); what it is not told:
SILENCED_SYSTEM_CHECKS = [
    # Loopback http redirect URIs are how native clients (Claude Code)
    # receive the code (RFC 8252 §7.3); oauth/redirect_uris.py allows http
    # on loopback hosts only.
    "oauth2_provider.W008",
    # W006 reads only DOT's own storage switch, which stays off (it breaks
    # the refresh grace window); token values are stored as keyed hashes by
    # oauth/token_storage.py (tests/oauth/test_token_storage.py).
    "oauth2_provider.W006",
]
if not SECURE_SSL_REDIRECT:
    SILENCED_SYSTEM_CHECKS.append("security.W008")  # the proxy redirects (above)
if not SECURE_HSTS_PRELOAD:
    # Joining the browsers' preload list binds the whole domain to https for
    # months and is hard to undo: the operator's decision, not a default.
    SILENCED_SYSTEM_CHECKS.append("security.W021")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# `manage.py collectstatic` (run by `make run`, and before a deployment
# starts) copies every static file to STATIC_ROOT under a content-hashed
# name, with a gzip copy; WhiteNoise serves them with a far-future
# Cache-Control, and a changed file gets a new name.
STATIC_URL = "/static/"
STATIC_ROOT = Path(env("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Sign-in protection (accounts/signin.py): failed sign-ins at both login
# forms are counted per username and per address over a sliding window; the
# failure that reaches a limit locks that username or address for
# LOGIN_LOCKOUT_SECONDS (0 turns a limit off). Shared by every worker
# through the cache (CACHE_URL).
LOGIN_FAILURES_PER_USERNAME = env.int("LOGIN_FAILURES_PER_USERNAME", default=5)
LOGIN_FAILURES_PER_ADDRESS = env.int("LOGIN_FAILURES_PER_ADDRESS", default=20)
LOGIN_FAILURE_WINDOW_SECONDS = env.int("LOGIN_FAILURE_WINDOW_SECONDS", default=900)
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", default=900)

# The OAuth 2.1 authorization server (django-oauth-toolkit).
from config.oauth_settings import (  # noqa: E402, F401
    ACCESS_TOKEN_LIFETIME_SECONDS,
    OAUTH2_PROVIDER_APPLICATION_MODEL,
    OAUTH_CIMD_ALLOW_LOOPBACK_HTTP,
    OAUTH_JWKS_MAX_AGE_SECONDS,
    OAUTH_REGISTRATION_MAX_BYTES,
    OAUTH_REGISTRATION_RATE_GLOBAL,
    OAUTH_REGISTRATION_RATE_PER_ADDRESS,
    OAUTH_SCOPES,
    OAUTH_SIGNING_KEY_PREPUBLISH_SECONDS,
    OAUTH_TOKEN_RATE_PER_ADDRESS,
    OAUTH_UNUSED_CLIENT_TTL_SECONDS,
    provider_settings,
)

OAUTH2_PROVIDER = provider_settings(PUBLIC_URL, MCP_RESOURCE_URL)

# The MCP resource server: transport, caches, readiness, quotas.
from config.mcp_settings import (  # noqa: E402, F401
    MCP_AUDIT_PG_ASYNC,
    MCP_AUDIT_PG_LINGER_ROUNDS,
    MCP_AUDIT_TOOL_CALLS,
    MCP_BENCHMARK,
    MCP_CLIENT_SHARE,
    MCP_DB_THREADS,
    MCP_EVENT_STORE_TIMEOUT,
    MCP_EVENT_STORE_URL,
    MCP_EVENT_STREAM_MAX,
    MCP_EVENT_TTL_SECONDS,
    MCP_FAST_TOOLS_CALL,
    MCP_MAX_BODY_BYTES,
    MCP_POLICY_CACHE_SECONDS,
    MCP_QUOTA_REDIS_TIMEOUT,
    MCP_READY_AUDIT_MAX_AGE_SECONDS,
    MCP_READY_AUDIT_MAX_QUEUE,
    MCP_READY_REVOCATION_MAX_AGE_SECONDS,
    MCP_REVOCATION_POLL_SECONDS,
    MCP_SESSIONS,
    MCP_SHUTDOWN_DRAIN_SECONDS,
    MCP_SYNC_TOOLS_ON_MIGRATE,
    MCP_TENANT_BURST,
    MCP_TENANT_RATE,
)

# Split deployment (resource-server mode), claim mapping and clock leeway.
from config.resource_server_settings import (  # noqa: E402, F401
    MCP_AUTHORIZATION_SERVER,
    MCP_AUTHORIZATION_SERVER_CLIENT_ID,
    MCP_AUTHORIZATION_SERVER_CLIENT_SECRET,
    MCP_CLOCK_LEEWAY_SECONDS,
    MCP_ISSUER_TIMEOUT_SECONDS,
    MCP_ISSUER_UNREACHABLE_SECONDS,
    MCP_JWKS_MAX_CACHE_SECONDS,
    MCP_JWKS_UNKNOWN_KID_INTERVAL_SECONDS,
    MCP_REVOCATION_FEED_URL,
    MCP_TEST_CLOCK_OFFSET_SECONDS,
    MCP_TEST_HOOKS,
    MCP_TOKEN_SCOPE_CLAIM,
    MCP_TOKEN_TENANT_CLAIM,
)

if MCP_AUTHORIZATION_SERVER:
    # A resource server serves /mcp, its metadata and health, nothing else.
    ROOT_URLCONF = "config.urls_resource_server"
    OAUTH2_PROVIDER["OAUTH2_PROTECTED_RESOURCE_AUTHORIZATION_SERVERS"] = [
        MCP_AUTHORIZATION_SERVER
    ]

# Audit rows cap the JSON of a call's arguments at this many bytes.
AUDIT_ARGUMENTS_MAX_BYTES = env.int("AUDIT_ARGUMENTS_MAX_BYTES", default=4096)

# Metrics and logs: /metrics (multiprocess directory, allow-list), LOG_FORMAT.
from config.observability_settings import (  # noqa: E402, F401
    LOG_FORMAT,
    LOGGING,
    MCP_METRICS_ALLOWED_IPS,
    MCP_METRICS_DIR,
)

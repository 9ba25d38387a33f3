"""Settings of metrics and logs: /metrics, its allow-list, LOG_FORMAT, LOGGING.

Imported by config/settings.py (which has already loaded `.env` into the
environment); every name here is a Django setting. Importing this module
sets PROMETHEUS_MULTIPROC_DIR (config/metrics_dir.py), which must happen
before prometheus_client is first imported: the settings module is
imported before any app module, in every process.
"""

import ipaddress
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from config import metrics_dir

env = environ.Env()
BASE_DIR = Path(__file__).resolve().parent.parent

# This node's prometheus_client multiprocess directory, shared by its
# workers ("" for .cache/metrics/node-<supervisor pid>).
MCP_METRICS_DIR = metrics_dir.configure(
    env.str("MCP_METRICS_DIR", default=""), base_dir=BASE_DIR
)
# Client addresses (CIDRs or single addresses) that /metrics answers; any
# other address gets the 404 of an unknown path. Loopback only by default.
MCP_METRICS_ALLOWED_IPS = env.list(
    "MCP_METRICS_ALLOWED_IPS", default=["127.0.0.0/8", "::1/128"]
)
try:
    for _network in MCP_METRICS_ALLOWED_IPS:
        ipaddress.ip_network(_network, strict=False)
except ValueError as exc:
    raise ImproperlyConfigured(f"MCP_METRICS_ALLOWED_IPS: {exc}") from None
# "plain" (the default: as before) or "json": one JSON object per line on
# stderr, and one line per HTTP request (config/request_observer.py).
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured('LOG_FORMAT must be "plain" or "json".')

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "config.json_logs.JsonFormatter"},
    },
    # No token, code or secret in a log line (config/log_redaction.py).
    # A 503 of /readyz is logged once per change, not per probe
    # (config/probe_logging.py).
    "filters": {
        "redact": {"()": "config.log_redaction.RedactSecrets"},
        "probes": {"()": "config.probe_logging.DropReadinessErrors"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["probes", "redact"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="WARNING")},
    "loggers": {
        "django": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        # DOT logs why a client ID metadata document could not be fetched
        # (DNS, TLS, size, policy) at INFO; the client only sees
        # "invalid client_id".
        "oauth2_provider.cimd": {"level": "INFO"},
        # One line per HTTP request, with LOG_FORMAT=json only
        # (config/request_observer.py).
        "mcp.request": {"level": "INFO"},
    },
}

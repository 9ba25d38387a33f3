"""The one ASGI application: Django for everything, the MCP app at /mcp.

Django's ASGI handler refuses `lifespan`, and a mounted app's lifespan is
never run by anyone else, so this router owns it: it enters the MCP app's
lifespan (the SDK's session manager) at startup and leaves it at shutdown.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_asgi_application()  # sets Django up before app imports

from django.conf import settings  # noqa: E402

from config import json_logs, log_redaction, readiness  # noqa: E402
from config.metrics_endpoint import networks  # noqa: E402
from config.request_observer import RequestObserver  # noqa: E402
from config.router import Router  # noqa: E402
from mcpserver.asgi import build_mcp_app  # noqa: E402

# uvicorn configured its loggers before importing this module: the filter
# goes on them now, before the first request is logged.
log_redaction.install()
if settings.LOG_FORMAT == "json":
    json_logs.install_on_uvicorn()
mcp_app = build_mcp_app()
readiness.register_serving_checks(mcp_app.quota_status)
# Metrics and the request log see every request, /metrics included.
application = RequestObserver(
    Router(django_app=django_application, mcp_app=mcp_app),
    metrics_allowed=networks(settings.MCP_METRICS_ALLOWED_IPS),
    metrics_dir=str(settings.MCP_METRICS_DIR),
    json_log=settings.LOG_FORMAT == "json",
)

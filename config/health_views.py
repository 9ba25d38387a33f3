"""/healthz (the process answers) and /readyz (it can serve), both JSON.

Neither needs a session, a token or a cookie; neither is cached. /readyz
is async: its checks wait on nothing but the database, each wait bounded
by MCP_DB_TIMEOUT_SECONDS and off the event loop (config/readiness.py).
"""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from config.probe_logging import report
from config.readiness import arun_checks


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """200 {"status": "ok"} while the process answers at all."""
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
async def readyz(request: HttpRequest) -> JsonResponse:
    """200 when every check passes, else 503; each check named with its words.

    A 503 is logged once per change of the failing checks, not per probe
    (config/probe_logging.py).
    """
    results = await arun_checks()
    ready = all(result.ok for result in results.values())
    report({name: r.detail for name, r in results.items() if not r.ok})
    return JsonResponse(
        {
            "status": "ready" if ready else "not ready",
            "checks": {
                name: {"ok": result.ok, "detail": result.detail}
                for name, result in results.items()
            },
        },
        status=200 if ready else 503,
    )

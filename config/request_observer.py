"""Every HTTP request counted and timed, /metrics served, and (LOG_FORMAT=json)
one log line per request.

`RequestObserver` wraps the whole ASGI application (config/asgi.py), so it
sees /mcp, Django's pages and the health endpoints alike, and answers an
allowed GET /metrics itself, before the router and Django's middleware
(config/metrics_endpoint.py); a client outside the allow-list is handed on
to the router like any other request and gets Django's 404.

Per request it records, in prometheus_client's multiprocess files:
- mcp_http_requests_total{route, method, status, tenant}
- mcp_http_request_duration_seconds{route}
where `route` is the first path segment among the routes the server has
("/mcp", "/token", "/.well-known", ..., else "other"), `method` one of the
HTTP methods (else "other"), `status` the response's code ("0" when none
was sent: the client went away), `tenant` the caller's tenant for an
authenticated /mcp request (the MCP app puts its Admitted state in the
scope, mcpserver/pipeline/admitted.py) and "" otherwise. Every label is
bounded by the server's own vocabulary, never by what a client sends.

With LOG_FORMAT=json, the logger "mcp.request" writes one line per request
(config/json_logs.py): request_id (the client's X-Request-Id when it is a
short token of safe characters, else one made here), rpc_id (the JSON-RPC
id, which the request's audit rows record as their request_id), tenant,
tenant_id, client, tool, status, duration_ms, method, path (without the
query string, where a misplaced token would be), remote (the client
address). The default format logs nothing here.
"""

import logging
import re
import time
import uuid
from typing import Any

from prometheus_client import Counter, Histogram

from config.metrics_endpoint import (
    METRICS_PATH,
    Network,
    client_allowed,
    send_metrics,
)
from mcpserver.asgi_types import ASGIApp, Message, Receive, Scope, Send
from mcpserver.metrics import DURATION_BUCKETS, tenant_label, tool_label
from mcpserver.pipeline.admitted import RPC_ID_KEY, SCOPE_KEY, Admitted

REQUEST_LOGGER = "mcp.request"
ROUTES = frozenset(
    {
        "mcp",
        "healthz",
        "readyz",
        "metrics",
        ".well-known",
        "authorize",
        "token",
        "revoke",
        "introspect",
        "register",
        "resource-server",
        "admin",
        "accounts",
        "account",
        "static",
        "",
    }
)
METHODS = frozenset({"GET", "POST", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

HTTP_REQUESTS = Counter(
    "mcp_http_requests",
    "HTTP requests by route, method, status and (authenticated /mcp) tenant.",
    ["route", "method", "status", "tenant"],
)
HTTP_SECONDS = Histogram(
    "mcp_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response (seconds).",
    ["route"],
    buckets=DURATION_BUCKETS,
)

logger = logging.getLogger(REQUEST_LOGGER)


def route_label(path: str) -> str:
    """The route a path belongs to ("/mcp", "/.well-known", ...) or "other"."""
    first = path[1:].split("/", 1)[0]
    return f"/{first}" if first in ROUTES else "other"


class RequestObserver:
    """Counts, times and (optionally) logs every HTTP request; serves /metrics.

    `metrics_allowed` and `metrics_dir` are MCP_METRICS_ALLOWED_IPS (as
    networks) and MCP_METRICS_DIR; `json_log` is LOG_FORMAT == "json".
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics_allowed: tuple[Network, ...],
        metrics_dir: str,
        json_log: bool,
    ) -> None:
        self.app = app
        self.metrics_allowed = metrics_allowed
        self.metrics_dir = metrics_dir
        self.json_log = json_log
        self._children: dict[tuple[str, str, str, str], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            if (
                scope["path"] == METRICS_PATH
                and scope["method"] == "GET"
                and client_allowed(scope, self.metrics_allowed)
            ):
                status = await send_metrics(send, self.metrics_dir)
            else:
                await self.app(scope, receive, observed)
        except Exception:
            status = status or 500  # the server answers 500 if nothing was sent
            raise
        finally:
            self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        admitted = scope.get(SCOPE_KEY)
        if not isinstance(admitted, Admitted):
            admitted = None
        method = scope["method"]
        key = (
            route_label(scope["path"]),
            method if method in METHODS else "other",
            str(status),
            tenant_label(admitted.principal) if admitted else "",
        )
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                HTTP_REQUESTS.labels(*key),
                HTTP_SECONDS.labels(key[0]),
            )
        children[0].inc()
        children[1].observe(seconds)
        if self.json_log:
            logger.info(
                "request", extra={"fields": _line(scope, admitted, status, seconds)}
            )


def _line(
    scope: Scope, admitted: Admitted | None, status: int, seconds: float
) -> dict[str, Any]:
    """The request log line's fields (see the module)."""
    principal = admitted.principal if admitted else None
    client = scope.get("client")
    rpc_id = scope.get(RPC_ID_KEY)
    return {
        "request_id": _request_id(scope),
        "rpc_id": None if rpc_id is None else str(rpc_id),
        "tenant": principal.tenant_slug if principal else None,
        "tenant_id": principal.tenant_id if principal else None,
        "client": principal.client_id if principal else None,
        "tool": tool_label(admitted.tool) if admitted and admitted.tool else None,
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
        "method": scope["method"],
        "path": scope["path"],
        "remote": client[0] if client else None,
    }


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1").strip()
            if _REQUEST_ID.fullmatch(text):
                return text
            break
    return uuid.uuid4().hex

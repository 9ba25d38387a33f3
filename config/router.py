"""A small ASGI router: lifespan, /mcp, and Django for the rest."""

import contextlib
import gc
from typing import Protocol

from asgiref.sync import sync_to_async
from django.conf import settings

from config import process_gauges, shutdown
from config.security_headers import nosniff
from mcpserver.asgi_types import ASGIApp, Receive, Scope, Send
from mcpserver.remote_trust import StartupRefused
from oauth.checks import log_signing_key_errors

MCP_PATH = "/mcp"


class LifespanApp(Protocol):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...

    def lifespan(self) -> contextlib.AbstractAsyncContextManager[None]: ...


class Router:
    """Route `/mcp` (and `/mcp/`) to the MCP app, everything else to Django.

    The router answers the ASGI lifespan itself and runs the MCP app's
    `lifespan()` context for the life of the server process. Once started
    it puts the drain delay in front of the server's SIGTERM handling
    (config/shutdown.py).
    """

    def __init__(self, *, django_app: ASGIApp, mcp_app: LifespanApp) -> None:
        self.django_app = django_app
        self.mcp_app = mcp_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http" and scope["path"].rstrip("/") == MCP_PATH:
            # Django's SecurityMiddleware never sees /mcp: nosniff is added
            # here, for refusals and the SDK's answers alike.
            await self.mcp_app(scope, receive, nosniff(send))
        else:
            await self.django_app(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        stack = contextlib.AsyncExitStack()
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # uvicorn runs no system checks: an unreadable signing key
                # (oauth.E001) is logged here, once per process. A resource
                # server has no signing keys (and reads no OAuth table).
                if not settings.MCP_AUTHORIZATION_SERVER:
                    await sync_to_async(log_signing_key_errors)()
                try:
                    await stack.enter_async_context(self.mcp_app.lifespan())
                    # This worker's gauges (config/process_gauges.py).
                    await stack.enter_async_context(process_gauges.refreshing())
                except StartupRefused as exc:  # one line: uvicorn logs it
                    reason = f"Startup refused: {exc}"
                    await send({"type": "lifespan.startup.failed", "message": reason})
                    return
                except Exception as exc:  # report, then let the server exit
                    await send(
                        {"type": "lifespan.startup.failed", "message": repr(exc)}
                    )
                    return
                # Everything imported and built so far lives as long as the
                # process: keep it out of the collector's view, or each full
                # (generation 2) collection walks it all and stalls every
                # request in flight (~150 ms measured at 800 calls/s).
                gc.freeze()
                shutdown.reset()
                shutdown.install_drain_on_sigterm(settings.MCP_SHUTDOWN_DRAIN_SECONDS)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                # Not ready from here on, whatever asked the server to stop
                # (a SIGTERM has said so since it arrived: config/shutdown.py).
                shutdown.begin("shutting down")
                await stack.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

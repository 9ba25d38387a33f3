"""The ASGI app served at /mcp.

Until the MCP resource server lands this is a placeholder that answers
every request with a JSON 404, so clients get a clear, machine-readable
answer instead of Django's HTML page.
"""

import contextlib
import json
from collections.abc import AsyncIterator

from config.router import Receive, Scope, Send


class PlaceholderMcpApp:
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = json.dumps(
            {"error": "not_found", "error_description": "MCP is not served yet."}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 404,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        yield


def build_mcp_app() -> PlaceholderMcpApp:
    return PlaceholderMcpApp()

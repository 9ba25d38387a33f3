"""The SDK's session manager, with an event store of its own per session.

StreamableHTTPSessionManager hands every session the one `event_store` it
was built with; mcpserver/event_store.py explains why each session needs
its own. The SDK has no hook for that, so `_admit_session` (where it builds
a session's transport) is extended and the transport's `_event_store` set
before the session's first request is served. Both are private names of
mcp 2.3.0: tests/mcpserver/test_event_store.py fails when the installed
version differs, so they are re-read then.
"""

from typing import Any

from mcp.server.auth.middleware.bearer_auth import AuthorizationContext
from mcp.server.streamable_http import StreamableHTTPServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from mcpserver.event_store import EventStores

READ_AGAINST_MCP_VERSION = "2.3.0"


class ResumableSessionManager(StreamableHTTPSessionManager):
    """A session manager whose sessions each store their own SSE events."""

    def __init__(self, *args: Any, events: EventStores, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.events = events

    def _admit_session(
        self, requestor: AuthorizationContext | None
    ) -> StreamableHTTPServerTransport | None:
        transport = super()._admit_session(requestor)
        if transport is not None and transport.mcp_session_id is not None:
            transport._event_store = self.events.for_session(
                transport.mcp_session_id, requestor
            )
        return transport

"""SSE resumption for session mode: the SDK's EventStore, one per session.

The SDK gives its session manager one EventStore for every session and
names streams by request id ("1", "2", ...) or "_GET_stream", the same in
every session; an EventStore shared as it is would file two sessions'
events under one stream and replay one session's events to another that
presents its event id. So `EventStores.for_session` hands each session its
own store, bound to a namespace derived from the session id and the
principal that opened it (the SDK refuses a session to any other
principal; the namespace makes the store refuse too): an event id is only
ever looked up in the namespace of the session replaying it
(mcpserver/event_log.py has the id format and the bounds).

When the event log fails (Redis unreachable or slower than
MCP_EVENT_STORE_TIMEOUT), sessions keep working without resumption: the
event is sent without an id, a replay answers nothing (the stream ends at
once, as for an expired id), one warning is logged per outage and the log
is not asked again for RETRY_SECONDS, so no event waits on a dead Redis
more than once a second. Refusing sessions instead would turn an outage of
an optional feature into an outage of the server.
"""

import hashlib
import logging
import time

from django.conf import settings
from mcp.server.auth.middleware.bearer_auth import AuthorizationContext
from mcp.server.streamable_http import (
    EventCallback,
    EventId,
    EventMessage,
    EventStore,
    StreamId,
)
from mcp_types import JSONRPCMessage, jsonrpc_message_adapter

from mcpserver.event_log import EventLog, MemoryEventLog, RedisEventLog
from mcpserver.quota_redis import redis_location

logger = logging.getLogger(__name__)

RETRY_SECONDS = 1.0
"""After a failure, how long the log is left alone before it is tried again."""

NO_EVENT_ID: EventId = ""
"""The id of an event that was not stored (an SSE client ignores it)."""


class EventStores:
    """The event log of one server lifespan and its health."""

    def __init__(self, log: EventLog, *, kind: str) -> None:
        self.log = log
        self.kind = kind  # "redis" or "memory"
        self._down_until = 0.0
        self._down = False

    @classmethod
    def from_settings(cls) -> "EventStores":
        """Redis at MCP_EVENT_STORE_URL, else CACHE_URL's Redis, else memory."""
        url = settings.MCP_EVENT_STORE_URL or redis_location()
        ttl, cap = settings.MCP_EVENT_TTL_SECONDS, settings.MCP_EVENT_STREAM_MAX
        if not url:
            return cls(MemoryEventLog(ttl=ttl, cap=cap), kind="memory")
        log = RedisEventLog.connect(
            url, ttl=ttl, cap=cap, timeout=settings.MCP_EVENT_STORE_TIMEOUT
        )
        return cls(log, kind="redis")

    def for_session(
        self, session_id: str, owner: AuthorizationContext | None
    ) -> "SessionEventStore":
        """The store of one session, opened by `owner` (None: no principal)."""
        parts = [session_id]
        if owner is not None:
            parts += [owner["client_id"], owner["issuer"] or "", owner["subject"] or ""]
        binding = "\0".join(parts)
        namespace = hashlib.sha256(binding.encode()).hexdigest()[:32]
        return SessionEventStore(self, namespace)

    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def failed(self, error: Exception) -> None:
        self._down_until = time.monotonic() + RETRY_SECONDS
        if not self._down:
            self._down = True
            logger.warning(
                "SSE event store (%s) failed: %r; events go unstored and "
                "Last-Event-ID replays nothing until it answers again",
                self.kind,
                error,
            )

    def succeeded(self) -> None:
        if self._down:
            self._down = False
            logger.warning("SSE event store (%s) recovered", self.kind)

    async def close(self) -> None:
        await self.log.close()


# Not only RedisError: on a connection reset under it, uvloop's transport
# raises RuntimeError from inside redis-py (seen with the fault proxy).
# Any failure of the log is an outage of resumption, never of the session.
_FAILURES = (Exception,)


class SessionEventStore(EventStore):
    """The SDK's EventStore for one session's namespace; never raises."""

    def __init__(self, stores: EventStores, namespace: str) -> None:
        self._stores = stores
        self._namespace = namespace

    async def store_event(
        self, stream_id: StreamId, message: JSONRPCMessage | None
    ) -> EventId:
        """Store an event; its id, or NO_EVENT_ID when the log failed.

        Never raises: the SDK calls this in the session's message router,
        which an exception would end (and the session with it).
        """
        if not self._stores.available():
            return NO_EVENT_ID
        payload = (
            None
            if message is None
            else message.model_dump_json(by_alias=True, exclude_unset=True).encode()
        )
        try:
            event_id = await self._stores.log.append(
                self._namespace, stream_id, payload
            )
        except _FAILURES as error:
            self._stores.failed(error)
            return NO_EVENT_ID
        self._stores.succeeded()
        return event_id

    async def replay_events_after(
        self, last_event_id: EventId, send_callback: EventCallback
    ) -> StreamId | None:
        """Send this session's events after `last_event_id`; their stream.

        None (the SDK then ends the response with no events) when the id is
        not one of this session's, was pushed out or expired, or the log
        failed.
        """
        if not self._stores.available():
            return None
        try:
            found = await self._stores.log.after(self._namespace, last_event_id)
        except _FAILURES as error:
            self._stores.failed(error)
            return None
        self._stores.succeeded()
        if found is None:
            return None
        stream_id, events = found
        for event_id, payload in events:
            if payload is not None:  # priming events are cursors only
                message = jsonrpc_message_adapter.validate_json(payload)
                await send_callback(EventMessage(message, event_id))
        return stream_id

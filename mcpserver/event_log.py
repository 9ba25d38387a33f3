"""Where session mode keeps SSE events for resumption: Redis, or memory.

Both backends keep the same shape, under a `namespace` (one per MCP
session, chosen by mcpserver/event_store.py):

- each SDK stream of the namespace (a request id, or the GET stream) gets a
  random token the first time an event is stored for it;
- an event id is `<token>_<position>`: the token is 16 random bytes, so an
  id cannot be guessed, and it is looked up only inside the namespace of
  the session that replays it, so another session's id replays nothing;
- events older than `ttl` seconds are gone, and each stream keeps at most
  its `cap` newest events;
- a replay from an event that is no longer kept (expired or pushed out)
  answers None rather than the events after a gap the client cannot see.

A payload of None is the SDK's priming event (a cursor, never replayed).
Backend errors (Redis down, timeouts) propagate; the caller decides.
"""

import secrets
import time
from collections import deque
from dataclasses import dataclass, field

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

Replay = tuple[str, list[tuple[str, bytes | None]]]
"""A replay: the stream id, then (event id, payload) after the given id."""

_KEY_PREFIX = "mcp:events:"

# KEYS[1]: the namespace's map (stream id <-> token). ARGV: stream id, new
# token, payload ("" for a priming event), ttl in ms, cap, stream key
# prefix. Every key of a namespace shares the `{namespace}` hash tag, so a
# Redis Cluster keeps them in one slot. Expiry runs on Redis's clock.
_APPEND = """
local token = redis.call('HGET', KEYS[1], 'id:' .. ARGV[1])
if not token then
  token = ARGV[2]
  redis.call('HSET', KEYS[1], 'id:' .. ARGV[1], token, 'st:' .. token, ARGV[1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local key = ARGV[6] .. token
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local xid = redis.call('XADD', key, 'MAXLEN', ARGV[5], '*', 'm', ARGV[3])
redis.call('XTRIM', key, 'MINID', now - tonumber(ARGV[4]))
redis.call('PEXPIRE', key, ARGV[4])
return token .. '_' .. xid
"""

# KEYS[1]: the namespace's map. ARGV: token, last entry id, ttl in ms,
# stream key prefix. Returns false, or {stream id, entries after the last}.
_REPLAY = """
local stream_id = redis.call('HGET', KEYS[1], 'st:' .. ARGV[1])
if not stream_id then return false end
local key = ARGV[4] .. ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('XTRIM', key, 'MINID', now - tonumber(ARGV[3]))
if #redis.call('XRANGE', key, ARGV[2], ARGV[2]) == 0 then return false end
return {stream_id, redis.call('XRANGE', key, '(' .. ARGV[2], '+')}
"""


def _split(event_id: str) -> tuple[str, str] | None:
    token, sep, position = event_id.partition("_")
    if not sep or not token or not position or len(event_id) > 128:
        return None
    return token, position


class RedisEventLog:
    """Events in Redis: one stream (XADD) per SDK stream, one script a call."""

    def __init__(self, client: Redis, *, ttl: float, cap: int) -> None:
        self._client = client
        self._ttl_ms = max(1, int(ttl * 1000))
        self._cap = cap
        self._append = client.register_script(_APPEND)
        self._replay = client.register_script(_REPLAY)

    @classmethod
    def connect(
        cls, url: str, *, ttl: float, cap: int, timeout: float
    ) -> "RedisEventLog":
        """A log on the Redis at `url`, each call bounded by `timeout` (s).

        No connection is made until the first call; a failed call is not
        retried (the caller falls back at once).
        """
        client = Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        return cls(client, ttl=ttl, cap=cap)

    @staticmethod
    def _keys(namespace: str) -> tuple[str, str]:
        base = f"{_KEY_PREFIX}{{{namespace}}}:"
        return base + "map", base + "s:"

    async def append(
        self, namespace: str, stream_id: str, payload: bytes | None
    ) -> str:
        """Store one event of `stream_id`; return its event id."""
        map_key, prefix = self._keys(namespace)
        event_id = await self._append(
            keys=[map_key],
            args=[
                stream_id,
                secrets.token_hex(16),
                b"" if payload is None else payload,
                self._ttl_ms,
                self._cap,
                prefix,
            ],
        )
        return event_id.decode() if isinstance(event_id, bytes) else str(event_id)

    async def after(self, namespace: str, event_id: str) -> Replay | None:
        """The stream and events after `event_id`, or None (unknown, gone)."""
        parts = _split(event_id)
        if parts is None:
            return None
        token, position = parts
        map_key, prefix = self._keys(namespace)
        found = await self._replay(
            keys=[map_key], args=[token, position, self._ttl_ms, prefix]
        )
        if not found:
            return None
        stream_id, rows = found
        events = []
        for xid, fields in rows:
            values = dict(zip(fields[::2], fields[1::2], strict=True))
            payload = values.get(b"m", b"")
            events.append((f"{token}_{xid.decode()}", payload or None))
        return stream_id.decode(), events

    async def close(self) -> None:
        await self._client.aclose()


@dataclass
class _Stream:
    stream_id: str
    events: deque[tuple[int, float, bytes | None]]


@dataclass
class _Namespace:
    tokens: dict[str, str] = field(default_factory=dict)  # stream id -> token
    streams: dict[str, _Stream] = field(default_factory=dict)  # token -> stream
    touched: float = 0.0


class MemoryEventLog:
    """Events in this process's memory, with Redis's bounds (one event loop).

    A namespace untouched for `ttl` seconds is dropped whole, checked on
    each append, so sessions that went away do not accumulate.
    """

    def __init__(self, *, ttl: float, cap: int) -> None:
        self._ttl = ttl
        self._cap = cap
        self._namespaces: dict[str, _Namespace] = {}
        self._position = 0

    def _expire(self, now: float) -> None:
        # Dicts keep insertion order and a touched namespace is moved to the
        # end, so the idle ones are at the front.
        for name in list(self._namespaces):
            if self._namespaces[name].touched > now - self._ttl:
                break
            del self._namespaces[name]

    async def append(
        self, namespace: str, stream_id: str, payload: bytes | None
    ) -> str:
        now = time.monotonic()
        self._expire(now)
        space = self._namespaces.pop(namespace, None) or _Namespace()
        space.touched = now
        self._namespaces[namespace] = space
        token = space.tokens.get(stream_id)
        if token is None:
            token = space.tokens[stream_id] = secrets.token_hex(16)
            space.streams[token] = _Stream(stream_id, deque(maxlen=self._cap))
        self._position += 1
        space.streams[token].events.append((self._position, now, payload))
        return f"{token}_{self._position}"

    async def after(self, namespace: str, event_id: str) -> Replay | None:
        parts = _split(event_id)
        space = self._namespaces.get(namespace)
        if parts is None or space is None or not parts[1].isdigit():
            return None
        token, position = parts[0], int(parts[1])
        stream = space.streams.get(token)
        if stream is None:
            return None
        oldest = time.monotonic() - self._ttl
        while stream.events and stream.events[0][1] <= oldest:
            stream.events.popleft()
        if not any(kept == position for kept, _, _ in stream.events):
            return None
        return stream.stream_id, [
            (f"{token}_{kept}", payload)
            for kept, _, payload in stream.events
            if kept > position
        ]

    async def close(self) -> None:
        self._namespaces.clear()


EventLog = RedisEventLog | MemoryEventLog

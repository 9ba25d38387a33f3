"""Where session mode keeps SSE events for resumption: Redis, or memory.

Both backends keep the same shape, under a `namespace` (one per MCP
session, chosen by mcpserver/event_store.py):

- each SDK stream of the namespace (a request id, or the GET stream) has a
  token, an HMAC of the namespace and the stream id under a key drawn at
  random when the log is built, so nothing per stream has to be stored
  beside its events and nobody without the key can compute one;
- an event id is `<token>_<position>` and is looked up only inside the
  namespace of the session that replays it, so another session's id
  replays nothing;
- events older than `ttl` seconds are gone, and each stream keeps at most
  its `cap` newest events; a stream whose newest event expired is gone, so
  a long, busy session holds only its last `ttl` seconds of streams;
- a replay from an event that is no longer kept (expired or pushed out)
  answers None rather than the events after a gap the client cannot see.

A payload of None is the SDK's priming event (a cursor, never replayed).
Backend errors (Redis down, timeouts) propagate; the caller decides. An id
that is not of this shape is answered None before any backend call.
"""

import hashlib
import hmac
import re
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
_TOKEN = re.compile(r"[0-9a-f]{32}")

# KEYS[1]: the SDK stream's Redis stream. ARGV: stream id, payload ("" for a
# priming event), ttl in ms, cap. Returns the entry id. Expiry runs on
# Redis's clock; the key itself expires `ttl` after its last event.
_APPEND = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local xid = redis.call(
  'XADD', KEYS[1], 'MAXLEN', ARGV[4], '*', 's', ARGV[1], 'm', ARGV[2])
redis.call('XTRIM', KEYS[1], 'MINID', now - tonumber(ARGV[3]))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return xid
"""

# KEYS[1]: the Redis stream. ARGV: last entry id, ttl in ms. Returns false,
# or {the last entry's fields, the entries after it}.
_REPLAY = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('XTRIM', KEYS[1], 'MINID', now - tonumber(ARGV[2]))
local here = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #here == 0 then return false end
return {here[1][2], redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+')}
"""


class _Tokens:
    """Stream tokens: HMAC-SHA256 of (namespace, stream id), 128 bits."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def of(self, namespace: str, stream_id: str) -> str:
        message = f"{namespace}\0{stream_id}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:32]


def _split(event_id: str, position: re.Pattern[str]) -> tuple[str, str] | None:
    token, sep, at = event_id.partition("_")
    if not sep or not _TOKEN.fullmatch(token) or not position.fullmatch(at):
        return None
    return token, at


def _fields(flat: list[bytes]) -> dict[bytes, bytes]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


class RedisEventLog:
    """Events in Redis: one Redis stream per SDK stream, one script a call."""

    _POSITION = re.compile(r"\d{1,20}-\d{1,20}")

    def __init__(self, client: Redis, *, ttl: float, cap: int) -> None:
        self._client = client
        self._ttl_ms = max(1, int(ttl * 1000))
        self._cap = cap
        self._tokens = _Tokens()
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
    def _key(namespace: str, token: str) -> str:
        return f"{_KEY_PREFIX}{namespace}:{token}"

    async def append(
        self, namespace: str, stream_id: str, payload: bytes | None
    ) -> str:
        """Store one event of `stream_id`; return its event id."""
        token = self._tokens.of(namespace, stream_id)
        xid = await self._append(
            keys=[self._key(namespace, token)],
            args=[
                stream_id,
                b"" if payload is None else payload,
                self._ttl_ms,
                self._cap,
            ],
        )
        return f"{token}_{xid.decode() if isinstance(xid, bytes) else xid}"

    async def after(self, namespace: str, event_id: str) -> Replay | None:
        """The stream and events after `event_id`, or None (unknown, gone)."""
        parts = _split(event_id, self._POSITION)
        if parts is None:
            return None
        token, position = parts
        found = await self._replay(
            keys=[self._key(namespace, token)], args=[position, self._ttl_ms]
        )
        if not found:
            return None
        last, rows = found
        events = [
            (f"{token}_{xid.decode()}", _fields(flat).get(b"m") or None)
            for xid, flat in rows
        ]
        return _fields(last)[b"s"].decode(), events

    async def close(self) -> None:
        await self._client.aclose()


@dataclass
class _Stream:
    stream_id: str
    events: deque[tuple[int, float, bytes | None]]


@dataclass
class _Namespace:
    # token -> stream, least recently appended to first
    streams: dict[str, _Stream] = field(default_factory=dict)
    touched: float = 0.0


class MemoryEventLog:
    """Events in this process's memory, with Redis's bounds (one event loop).

    Expired streams of a namespace are dropped on each append to it, and a
    namespace untouched for `ttl` seconds is dropped whole on any append, so
    neither busy nor departed sessions accumulate.
    """

    _POSITION = re.compile(r"\d{1,20}")

    def __init__(self, *, ttl: float, cap: int) -> None:
        self._ttl = ttl
        self._cap = cap
        self._tokens = _Tokens()
        self._namespaces: dict[str, _Namespace] = {}
        self._position = 0

    def _expire(self, now: float) -> None:
        # Dicts keep insertion order and what is touched moves to the end,
        # so the idle ones are at the front.
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
        for token in list(space.streams):
            if space.streams[token].events[-1][1] > now - self._ttl:
                break
            del space.streams[token]
        token = self._tokens.of(namespace, stream_id)
        stream = space.streams.pop(token, None) or _Stream(
            stream_id, deque(maxlen=self._cap)
        )
        space.streams[token] = stream
        self._position += 1
        stream.events.append((self._position, now, payload))
        return f"{token}_{self._position}"

    async def after(self, namespace: str, event_id: str) -> Replay | None:
        parts = _split(event_id, self._POSITION)
        space = self._namespaces.get(namespace)
        if parts is None or space is None:
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

"""The quota buckets in Redis: one atomic Lua script per request.

Both buckets of a request (its tenant's and its client's) are read, checked
and, if both have a token, updated in one script run, on Redis's own clock
(TIME), so every worker and node shares them and clocks never disagree. The
script is sent once (EVALSHA afterwards): one round trip per request, on the
asyncio client, so the event loop never blocks on Redis.
"""

import re

from django.conf import settings
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from mcpserver.quota_buckets import ADMITTED, Limits, Verdict

# KEYS: tenant bucket, client bucket. ARGV: tenant rate, burst, client rate,
# burst. Returns {refused (0/1), seconds to wait, "tenant"|"client"}; the
# wait is a string because Redis truncates Lua numbers to integers.
_TAKE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function gcra(key, rate, burst)
  local interval = 1 / rate
  local tat = tonumber(redis.call('GET', key)) or now
  if tat < now then tat = now end
  local new_tat = tat + interval
  return new_tat, new_tat - now - burst * interval
end
local tenant_tat, tenant_wait = gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
local client_tat, client_wait = gcra(KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4]))
if tenant_wait > 0 or client_wait > 0 then
  local limit = 'tenant'
  local wait = tenant_wait
  if client_wait >= tenant_wait then limit = 'client'; wait = client_wait end
  return {1, string.format('%.6f', wait), limit}
end
local function store(key, tat)
  local ttl = math.ceil((tat - now) * 1000) + 1000
  redis.call('SET', key, string.format('%.6f', tat), 'PX', ttl)
end
store(KEYS[1], tenant_tat)
store(KEYS[2], client_tat)
return {0, '0', ''}
"""


class RedisBuckets:
    """Buckets in Redis, shared by every process using the same server."""

    def __init__(self, client: Redis) -> None:
        self._client = client
        self._script = client.register_script(_TAKE_SCRIPT)

    @classmethod
    def connect(cls, location: str, *, timeout: float) -> "RedisBuckets":
        """Buckets on the Redis at `location`; each call bounded by `timeout`.

        No connection is made until the first call.
        """
        client = Redis.from_url(
            location,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            # A failed call falls back at once; the limiter paces retries.
            retry=Retry(NoBackoff(), 0),
        )
        return cls(client)

    async def take(self, tenant_key: str, client_key: str, limits: Limits) -> Verdict:
        refused, wait, limit = await self._script(
            keys=[tenant_key, client_key],
            args=[limits.rate, limits.burst, limits.client_rate, limits.client_burst],
        )
        if not int(refused):
            return ADMITTED
        text = wait.decode() if isinstance(wait, bytes) else str(wait)
        name = limit.decode() if isinstance(limit, bytes) else str(limit)
        return Verdict(False, float(text), name)

    async def close(self) -> None:
        await self._client.aclose()


def redis_location() -> str | None:
    """The URL of the default cache's (first) Redis server, if it is Redis."""
    config = settings.CACHES.get("default", {})
    if not str(config.get("BACKEND", "")).endswith("redis.RedisCache"):
        return None
    location = config.get("LOCATION")
    if isinstance(location, list | tuple):
        return str(location[0]) if location else None
    # Django's RedisCache writes to the first of "a;b" or "a,b".
    return re.split(r"[;,]", str(location))[0] or None

"""Token buckets for per-tenant and per-client quotas (the admission stage).

Each authenticated /mcp request takes one token from its tenant's bucket
and one from its client's bucket inside that tenant; it is admitted only
if both have one, and then takes from both. The buckets are GCRA (generic
cell rate algorithm): one number per bucket, the time at which it would
be full again, which is the token bucket's behaviour without a refill
step.

Where the counters live:

- `RedisBuckets`, when Django's cache is Redis: both buckets in one atomic
  Lua script, one round trip per request, on Redis's own clock, so every
  worker and node shares them. The async client never blocks the event
  loop, and every call is bounded by MCP_QUOTA_REDIS_TIMEOUT.
- `LocalBuckets`, per process: for any other cache (each worker then
  enforces the whole quota on its own), and as the fallback.

`QuotaLimiter` uses Redis while it answers; on an error it logs once,
counts locally, and tries Redis again after RETRY_SECONDS. `status()`
reports which store is in use, for readiness.
"""

import logging
import math
import re
import time
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from django.core.cache import cache

from tenants.selectors import TenantQuota

logger = logging.getLogger(__name__)

RETRY_SECONDS = 5.0
"""How long a process counts locally after Redis failed, before retrying."""
_MAX_LOCAL_BUCKETS = 10_000
"""Past this many local buckets, full ones are forgotten (they hold nothing)."""


@dataclass(frozen=True)
class Limits:
    """A tenant's bucket and the bucket of each of its clients.

    Rates are requests per second; bursts are bucket sizes (at least 1).
    """

    rate: float
    burst: int
    client_rate: float
    client_burst: int


@dataclass(frozen=True)
class QuotaDefaults:
    """The server's defaults (settings), for what a tenant leaves empty.

    A `rate` of 0 means tenants without a rate of their own are not limited.
    """

    rate: float = 0.0
    burst: int = 0
    client_share: int = 100

    @classmethod
    def from_settings(cls) -> "QuotaDefaults":
        return cls(
            rate=settings.MCP_TENANT_RATE,
            burst=settings.MCP_TENANT_BURST,
            client_share=settings.MCP_CLIENT_SHARE,
        )

    def limits(self, quota: TenantQuota) -> Limits | None:
        """The tenant's effective limits, or None when it is not limited.

        The burst defaults to one second's worth of the rate; a client's
        bucket holds `client_share` percent of the tenant's rate and burst
        (at least one request).
        """
        rate = quota.rate if quota.rate is not None else self.rate
        if rate <= 0:
            return None
        burst = quota.burst or self.burst or max(1, math.ceil(rate))
        share = min(100, max(1, quota.client_share or self.client_share)) / 100
        return Limits(
            rate=rate,
            burst=burst,
            client_rate=rate * share,
            client_burst=max(1, math.floor(burst * share)),
        )


@dataclass(frozen=True)
class Verdict:
    """The outcome of taking a token.

    `retry_after` is seconds until a request would be admitted (0 when
    admitted); `limit` names the bucket that refused ("tenant" or "client").
    """

    admitted: bool
    retry_after: float = 0.0
    limit: str = ""


ADMITTED = Verdict(True)


@dataclass(frozen=True)
class QuotaStatus:
    """Where the quota counters live right now.

    `store` is "redis" or "local"; `shared` whether all workers share the
    counters; `degraded` whether Redis is configured but failing (counting
    locally since `since`, a time.time() value), with the last `error`.
    """

    store: str
    shared: bool
    degraded: bool = False
    error: str = ""
    since: float | None = None


class BucketStore(Protocol):
    async def take(self, tenant_key: str, client_key: str, limits: Limits) -> Verdict:
        """Take a token from both buckets, or from neither and refuse."""


def _gcra(
    tat: float | None, now: float, rate: float, burst: int
) -> tuple[float, float]:
    """(the bucket's new full-again time, seconds to wait; > 0 refuses)."""
    interval = 1.0 / rate
    new_tat = max(tat or now, now) + interval
    return new_tat, new_tat - now - burst * interval


class LocalBuckets:
    """Buckets in this process's memory (not shared between workers)."""

    def __init__(self) -> None:
        self._tats: dict[str, float] = {}

    async def take(self, tenant_key: str, client_key: str, limits: Limits) -> Verdict:
        return self.take_now(tenant_key, client_key, limits, time.monotonic())

    def take_now(
        self, tenant_key: str, client_key: str, limits: Limits, now: float
    ) -> Verdict:
        """`take` at time `now` (monotonic seconds); synchronous, no I/O."""
        tenant_tat, tenant_wait = _gcra(
            self._tats.get(tenant_key), now, limits.rate, limits.burst
        )
        client_tat, client_wait = _gcra(
            self._tats.get(client_key), now, limits.client_rate, limits.client_burst
        )
        if client_wait > 0 or tenant_wait > 0:
            limit = "client" if client_wait >= tenant_wait else "tenant"
            return Verdict(False, max(client_wait, tenant_wait), limit)
        if len(self._tats) >= _MAX_LOCAL_BUCKETS:
            self._tats = {k: v for k, v in self._tats.items() if v > now}
        self._tats[tenant_key] = tenant_tat
        self._tats[client_key] = client_tat
        return ADMITTED


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

    def __init__(self, client: Any) -> None:
        self._client = client
        self._script = client.register_script(_TAKE_SCRIPT)

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


class QuotaLimiter:
    """Takes tokens from Redis while it answers, else from local buckets.

    Built once per server lifespan (`from_settings`); `close()` at its end.
    """

    def __init__(self, redis: RedisBuckets | None) -> None:
        self._redis = redis
        self._local = LocalBuckets()
        self._down_until = 0.0
        self._degraded_since: float | None = None
        self._error = ""

    @classmethod
    def from_settings(cls) -> "QuotaLimiter":
        location = redis_location()
        if location is None:
            return cls(None)
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        timeout = settings.MCP_QUOTA_REDIS_TIMEOUT
        client = Redis.from_url(
            location,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            # A failed call falls back at once; RETRY_SECONDS paces retries.
            retry=Retry(NoBackoff(), 0),
        )
        return cls(RedisBuckets(client))

    @staticmethod
    def keys(tenant_id: int, client_id: str) -> tuple[str, str]:
        """The cache keys of a tenant's bucket and of its client's bucket.

        Made by Django's cache (KEY_PREFIX, VERSION), so clearing the cache
        empties the buckets too.
        """
        return (
            cache.make_key(f"mcp:quota:t:{tenant_id}"),
            cache.make_key(f"mcp:quota:c:{tenant_id}:{client_id}"),
        )

    async def take(self, tenant_id: int, client_id: str, limits: Limits) -> Verdict:
        """Take a token for one request of `client_id` in `tenant_id`."""
        tenant_key, client_key = self.keys(tenant_id, client_id)
        now = time.monotonic()
        if self._redis is not None and now >= self._down_until:
            try:
                verdict = await self._redis.take(tenant_key, client_key, limits)
            except Exception as error:  # any Redis failure: count locally
                self._redis_failed(error, now)
            else:
                if self._degraded_since is not None:
                    logger.warning("Quota counters are shared in Redis again")
                    self._degraded_since = None
                return verdict
        return self._local.take_now(tenant_key, client_key, limits, now)

    def _redis_failed(self, error: Exception, now: float) -> None:
        self._down_until = now + RETRY_SECONDS
        self._error = f"{type(error).__name__}: {error}"[:300]
        if self._degraded_since is None:
            self._degraded_since = time.time()
            logger.error(
                "Redis is unreachable for quota counters (%s); counting in "
                "this process until it answers",
                self._error,
            )

    def status(self) -> QuotaStatus:
        """Which store the counters are in now (see QuotaStatus)."""
        if self._redis is None:
            return QuotaStatus(store="local", shared=False)
        if self._degraded_since is not None:
            return QuotaStatus(
                store="local",
                shared=False,
                degraded=True,
                error=self._error,
                since=self._degraded_since,
            )
        return QuotaStatus(store="redis", shared=True)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.close()


def retry_after_header(seconds: float) -> str:
    """Retry-After in whole seconds (RFC 9110 §10.2.3), at least 1."""
    return str(max(1, math.ceil(seconds)))

"""Per-tenant and per-client quotas for the admission stage.

Each authenticated /mcp request takes one token from its tenant's bucket
and one from its client's bucket inside that tenant; it is admitted only
if both have one, and then takes from both (mcpserver/quota_buckets.py).
`QuotaDefaults` turns a tenant's own settings and the server's defaults
into `Limits`.

Where the counters live:

- `RedisBuckets` (mcpserver/quota_redis.py), when Django's cache is Redis:
  both buckets in one atomic Lua script, one round trip per request, so
  every worker and node shares them. The async client never blocks the
  event loop, and every call is bounded by MCP_QUOTA_REDIS_TIMEOUT.
- `LocalBuckets`, per process: for any other cache (each worker then
  enforces the whole quota on its own), and as the fallback.

`QuotaLimiter` uses Redis while it answers; on an error it logs once,
counts locally, and tries Redis again after RETRY_SECONDS. `status()`
reports which store is in use, for readiness.
"""

import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from mcpserver.quota_buckets import Limits, LocalBuckets, Verdict
from mcpserver.quota_redis import RedisBuckets, redis_location
from tenants.selectors import TenantQuota

logger = logging.getLogger(__name__)

RETRY_SECONDS = 5.0
"""How long a process counts locally after Redis failed, before retrying."""
_MAX_KEYS = 10_000


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
        # make_key costs ~10 us, a quarter of a refusal's own work.
        self._keys: dict[tuple[int, str], tuple[str, str]] = {}

    @classmethod
    def from_settings(cls) -> "QuotaLimiter":
        location = redis_location()
        if location is None:
            return cls(None)
        return cls(
            RedisBuckets.connect(location, timeout=settings.MCP_QUOTA_REDIS_TIMEOUT)
        )

    def keys(self, tenant_id: int, client_id: str) -> tuple[str, str]:
        """The cache keys of a tenant's bucket and of its client's bucket.

        Made by Django's cache (KEY_PREFIX, VERSION), so clearing the cache
        empties the buckets too.
        """
        found = self._keys.get((tenant_id, client_id))
        if found is None:
            if len(self._keys) >= _MAX_KEYS:
                self._keys.clear()
            found = self._keys[(tenant_id, client_id)] = (
                cache.make_key(f"mcp:quota:t:{tenant_id}"),
                cache.make_key(f"mcp:quota:c:{tenant_id}:{client_id}"),
            )
        return found

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

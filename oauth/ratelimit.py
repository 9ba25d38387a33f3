"""Fixed-window rate limits kept in Django's cache.

With a shared cache (CACHE_URL=rediscache://...) the limits hold across
workers and hosts; with the default local-memory cache they hold per process.
"""

import time

from django.core.cache import cache


def hit(*, key: str, limit: int, window_seconds: int = 60) -> bool:
    """Count one hit on `key`; True while the window's count is within `limit`."""
    bucket = f"ratelimit:{key}:{int(time.time() // window_seconds)}"
    cache.add(bucket, 0, timeout=window_seconds * 2)
    try:
        count = cache.incr(bucket)
    except ValueError:  # evicted between add and incr
        cache.set(bucket, 1, timeout=window_seconds * 2)
        count = 1
    return count <= limit

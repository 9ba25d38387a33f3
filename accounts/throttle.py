"""Counters and locks in Django's cache that every worker shares.

The primitive under the sign-in lockout (accounts/signin.py) and the
per-address limits of /register and /token (oauth/ratelimit.py). It lives
in accounts, the lowest app that both may import.

A counter changes only through `cache.add` (Redis `SET NX`) and
`cache.incr` (Redis `INCR`), each atomic on its own: no value is read,
changed and written back, so two workers never lose each other's count and
exactly one caller sees each value. A lock is a `cache.add` too, so exactly
one caller starts it. With CACHE_URL=rediscache://... the counts hold across
workers and hosts; with the default local-memory cache, per process.

Windows are aligned to the clock and named in the key, never extended: a
key that outlived its expiry (Django's Redis `incr` checks existence, then
increments, so an expiry in between leaves a key without one) is never read
again once its window is over.
"""

import hashlib
import ipaddress
import math
import time
from dataclasses import dataclass

from django.core.cache import cache

PREFIX = "throttle"


@dataclass(frozen=True, slots=True)
class Count:
    """A key's count in the current window, this hit included."""

    count: int
    retry_after: int
    """Whole seconds until the window ends (at least 1)."""


def key_for(*parts: str) -> str:
    """A cache key for `parts`: safe characters, bounded length, any input.

    Usernames and addresses are hashed so that neither spaces nor length
    trip the cache's key checks, and no raw username sits in the cache.
    """
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return f"{PREFIX}:{parts[0]}:{digest}"


def address_key(address: str) -> str:
    """The unit an address is counted in: IPv4 as is, IPv6 by its /64.

    One IPv6 host commonly holds a whole /64, so counting single IPv6
    addresses would give it 2**64 budgets.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64] or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _window(window_seconds: int, now: float) -> int:
    return int(now // window_seconds) * window_seconds


def _increment(bucket: str, *, timeout: int) -> int:
    for _ in range(3):
        cache.add(bucket, 0, timeout=timeout)
        try:
            return cache.incr(bucket)
        except ValueError:  # expired or evicted between add and incr
            continue
    return 1  # the cache keeps dropping the key: count this hit alone


def hit(key: str, *, window_seconds: int) -> Count:
    """Count one hit on `key` in the current clock-aligned window."""
    now = time.time()
    start = _window(window_seconds, now)
    count = _increment(f"{key}:{start}", timeout=window_seconds * 2)
    retry_after = max(1, math.ceil(start + window_seconds - now))
    return Count(count=count, retry_after=retry_after)


def hit_sliding(key: str, *, window_seconds: int) -> Count:
    """`hit`, counting the previous window's hits that a sliding window ending
    now still covers: its count times the part of it still covered, rounded up.

    Fixed windows forget everything at each boundary, so 5 failures split 3
    and 2 across one counted as 3 and 2 and twice a limit could pass around
    every boundary. Rounded up, the estimate errs towards the stricter side
    (one more failure at most) and never forgets a recent one.
    """
    now = time.time()
    counted = hit(key, window_seconds=window_seconds)
    start = _window(window_seconds, now)
    covered = 1.0 - (now - start) / window_seconds
    previous = int(cache.get(f"{key}:{start - window_seconds}", 0))
    carried = math.ceil(previous * covered) if previous else 0
    return Count(count=counted.count + carried, retry_after=counted.retry_after)


def current(key: str, *, window_seconds: int, previous: bool = False) -> int:
    """`key`'s count in the current window (or, `previous`, the one before)."""
    start = _window(window_seconds, time.time())
    if previous:
        start -= window_seconds
    return int(cache.get(f"{key}:{start}", 0))


def forget(key: str, *, window_seconds: int) -> None:
    """Drop `key`'s counts in the current window and the one before (which
    `hit_sliding` still carries)."""
    start = _window(window_seconds, time.time())
    cache.delete_many([f"{key}:{start}", f"{key}:{start - window_seconds}"])


def lock(key: str, *, seconds: int) -> bool:
    """Lock `key` for `seconds`; True only for the call that started the lock."""
    return cache.add(f"{key}:lock", time.time() + seconds, timeout=seconds)


def locked_for(*keys: str) -> int:
    """Whole seconds until the last of `keys`' locks ends; 0 when none holds."""
    until = cache.get_many([f"{key}:lock" for key in keys]).values()
    remaining = max((float(value) - time.time() for value in until), default=0.0)
    return max(0, math.ceil(remaining))


def first_in(key: str, *, period_seconds: int) -> bool:
    """True for the first call about `key` in each clock-aligned period.

    Coalesces audit rows: a flood of refusals leaves one row a period.
    """
    start = _window(period_seconds, time.time())
    return cache.add(f"{key}:once:{start}", 1, timeout=period_seconds * 2)

"""Token buckets as GCRA, and the per-process store of them.

A bucket is one number, the time at which it would be full again (its
theoretical arrival time): taking a token moves it one interval (1/rate)
later, and a request is refused when that would put it more than the
bucket's size (burst) of intervals ahead of now. That is the token bucket's
behaviour without a refill step. A request takes from its tenant's bucket
and its client's bucket, from both or from neither.
"""

import time
from dataclasses import dataclass
from typing import Protocol

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
class Verdict:
    """The outcome of taking a token.

    `retry_after` is seconds until a request would be admitted (0 when
    admitted); `limit` names the bucket that refused ("tenant" or "client").
    """

    admitted: bool
    retry_after: float = 0.0
    limit: str = ""


ADMITTED = Verdict(True)


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

"""The issuer's JWKS, cached, in resource-server mode.

The keys that verify tokens (mcpserver/keystore.py `KEYS`) come from the
`jwks_uri` of the issuer's metadata:

- kept for the `Cache-Control: max-age` the issuer sent, at most
  MCP_JWKS_MAX_CACHE_SECONDS (no max-age: that bound) and at least
  MCP_JWKS_UNKNOWN_KID_INTERVAL_SECONDS (so `max-age=0` or `no-cache`
  cannot make us fetch nonstop), then refetched in
  the background; a failed refetch is retried every
  MCP_JWKS_UNKNOWN_KID_INTERVAL_SECONDS and the cached keys stay in use
  (a token signed by them keeps verifying; `/readyz` says they are stale);
- a token naming an unknown `kid` triggers one refetch, at most one per
  MCP_JWKS_UNKNOWN_KID_INTERVAL_SECONDS per process, however many such
  tokens arrive (a flood of forged kids cannot make us hammer the issuer),
  and each such refetch logs a warning naming the kid (a planned rotation
  never causes one: its key is pre-published longer than we cache);
  concurrent callers share the fetch in progress (SharedTask, no lock) and
  wait for it at most `request_wait` (half the request's own deadline,
  MCP_DB_TIMEOUT_SECONDS), so a black-holed issuer costs them a 401, never
  a timeout; the fetch itself goes on for the next token;
- a key is used only with the `alg` it declares, RS256 or ES256; a key
  without `alg`, with another, or that does not parse is ignored.
"""

import asyncio
import logging
import re
import time
from typing import Any

import anyio
import httpx2
import jwt

from mcpserver.aio import SharedTask
from mcpserver.issuer import IssuerUnavailable, get_json
from mcpserver.keystore import ALLOWED_ALGORITHMS, KEYS, KeyRow

logger = logging.getLogger(__name__)

_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.I)


def cache_seconds(cache_control: str | None, *, floor: float, bound: float) -> float:
    """How long to keep a JWKS: its Cache-Control max-age within [floor, bound].

    Without a max-age, `bound`. The floor (the unknown-kid interval) keeps an
    issuer that sends `no-cache` or `max-age=0` from being fetched nonstop.
    """
    match = _MAX_AGE.search(cache_control or "")
    seconds = float(match.group(1)) if match else bound
    return max(floor, min(seconds, bound))


def key_rows(document: Any) -> list[KeyRow]:
    """The usable signature keys of a JWKS document (see the module)."""
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list):
        raise IssuerUnavailable("the JWKS has no `keys` list")
    rows = []
    for jwk in keys:
        if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
            continue
        kid, algorithm = jwk.get("kid"), jwk.get("alg")
        if not isinstance(kid, str) or not kid or algorithm not in ALLOWED_ALGORITHMS:
            continue
        try:
            jwt.PyJWK(jwk, algorithm=algorithm)
        except jwt.PyJWTError:
            continue
        rows.append((kid, algorithm, dict(jwk)))
    return rows


class JwksCache:
    """The JWKS of the configured issuer (one per process)."""

    def __init__(self) -> None:
        self._fetch = SharedTask()
        self.clear()

    def clear(self) -> None:
        self.active = False
        self._url = ""
        self._client: httpx2.AsyncClient | None = None
        self._max_cache = 300.0
        self._unknown_interval = 10.0
        self._request_wait = 1.0
        self._fetched_at: float | None = None  # monotonic, last success
        self._expires_at = float("-inf")
        self._last_unknown = float("-inf")
        self.last_error = ""
        self.fetches = 0  # requests sent to the issuer (readiness, tests)

    def configure(
        self,
        *,
        url: str,
        client: httpx2.AsyncClient,
        max_cache: float,
        unknown_interval: float,
        request_wait: float,
    ) -> None:
        self.clear()
        self.active = True
        self._url, self._client = url, client
        self._max_cache, self._unknown_interval = max_cache, unknown_interval
        self._request_wait = request_wait

    async def refresh(self) -> None:
        """Fetch the JWKS now (or join the fetch in progress); raise on failure."""
        await self._fetch.join(self._fetch_once)

    async def _fetch_once(self) -> None:
        if self._client is None:
            raise IssuerUnavailable("the JWKS cache is not configured")
        self.fetches += 1
        try:
            answer = await get_json(self._client, self._url)
            rows = key_rows(answer.data)
        except IssuerUnavailable as exc:
            self.last_error = str(exc)
            raise
        KEYS.replace(rows)
        now = time.monotonic()
        self._fetched_at = now
        max_age = cache_seconds(
            answer.headers.get("cache-control"),
            floor=min(self._unknown_interval, self._max_cache),
            bound=self._max_cache,
        )
        self._expires_at = now + max_age
        self.last_error = ""

    async def reload_for_unknown_kid(self, kid: str) -> bool:
        """Refetch if allowed (see the module); whether `kid` is now known."""
        if KEYS.get(kid) is not None:
            return True
        if self._fetch.running() is None:
            now = time.monotonic()
            if now - self._last_unknown < self._unknown_interval:
                return False
            self._last_unknown = now
            logger.warning(
                "A token names kid %r, not in the cached JWKS: refetching it "
                "(a forged token, or a rotated-in key that signed before this "
                "process refetched the JWKS: pre-publication shorter than the "
                "JWKS cache time)",
                kid[:64],
            )
        try:
            async with asyncio.timeout(self._request_wait):
                await self.refresh()
        except (IssuerUnavailable, TimeoutError):
            return False
        return KEYS.get(kid) is not None

    async def run(self) -> None:
        """Refetch when the cached keys expire; retry failures (until cancelled)."""
        while True:
            wait = self._expires_at - time.monotonic()
            if wait > 0:
                await anyio.sleep(min(wait, self._unknown_interval))
                continue
            try:
                await self.refresh()
            except IssuerUnavailable:
                logger.warning("JWKS refetch failed: %s", self.last_error)
                await anyio.sleep(self._unknown_interval)

    def age(self) -> float:
        """Seconds since the last successful fetch (inf if none)."""
        if self._fetched_at is None:
            return float("inf")
        return time.monotonic() - self._fetched_at

    def status(self) -> tuple[bool, str]:
        """(fresh, words) for /readyz: stale once past max-age and unrefreshed."""
        age = self.age()
        if age == float("inf"):
            return False, f"never fetched: {self.last_error or 'not started'}"
        reason = f"; last refetch failed: {self.last_error}" if self.last_error else ""
        if time.monotonic() <= self._expires_at:
            return True, f"{len(KEYS.kids())} keys, fetched {age:.0f} s ago{reason}"
        return False, f"stale: fetched {age:.0f} s ago, past its max-age{reason}"


JWKS = JwksCache()

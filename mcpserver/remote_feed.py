"""The issuer's revocation feed, read over HTTP in resource-server mode.

Every MCP_REVOCATION_POLL_SECONDS one request (HTTP Basic with
MCP_AUTHORIZATION_SERVER_CLIENT_ID/_SECRET) to the feed
(oauth/views_feed.py): incremental with the cursor of the last answer, and
a full snapshot every FULL_RELOAD_SECONDS. Each good answer goes into this
process's RevocationFeed (mcpserver/revocation_feed.py), so a token revoked
at the issuer is refused here within a poll and a round trip.

When the issuer cannot be read, the last good feed keeps being used for
MCP_ISSUER_UNREACHABLE_SECONDS. Past that bound, `unseen_refusal` names
why a token this process has not accepted before is refused (fail closed;
tokens already accepted keep working until they expire or the feed says
otherwise) and `/readyz` fails. Requests never wait for the issuer: only
this poller does, at most MCP_ISSUER_TIMEOUT_SECONDS per poll.
"""

import logging
import time
from typing import Any

import anyio
import httpx2

from mcpserver.aio import SharedTask
from mcpserver.issuer import IssuerUnavailable, get_json
from mcpserver.revocation_feed import RevocationFeed
from oauth.revocation_selectors import FULL_RELOAD_SECONDS, RevocationRow

logger = logging.getLogger(__name__)


def _rows(entries: Any) -> list[RevocationRow]:
    if not isinstance(entries, list):
        raise IssuerUnavailable("the feed has no `revocations` list")
    try:
        return [
            RevocationRow(
                id=0,
                kind=str(entry["kind"]),
                subject=str(entry["subject"]),
                created_at=float(entry["created_at"]),
                expires_at=float(entry["expires_at"]),
                tenant_id=None
                if entry["tenant_id"] is None
                else int(entry["tenant_id"]),
            )
            for entry in entries
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise IssuerUnavailable(f"a malformed feed entry ({exc!r})") from None


class RemoteFeed:
    """Polls the issuer's feed into a RevocationFeed (one per process)."""

    def __init__(self) -> None:
        self._polling = SharedTask()
        self.clear()

    def clear(self) -> None:
        self.active = False
        self._feed: RevocationFeed | None = None
        self._url = ""
        self._auth: tuple[str, str] = ("", "")
        self._client: httpx2.AsyncClient | None = None
        self._bound = 60.0
        self._cursor: str | None = None
        self._last_full = float("-inf")
        self._good_at: float | None = None  # monotonic start of the last good poll
        self.last_error = ""

    def configure(
        self,
        *,
        feed: RevocationFeed,
        url: str,
        auth: tuple[str, str],
        client: httpx2.AsyncClient,
        unreachable_bound: float,
    ) -> None:
        self.clear()
        self.active = True
        self._feed, self._url, self._auth, self._client = feed, url, auth, client
        self._bound = unreachable_bound

    async def poll(self) -> None:
        """Read the feed once (or join the read in progress); raise on failure."""
        await self._polling.join(self._poll_once)

    async def _poll_once(self) -> None:
        if self._client is None or self._feed is None:
            raise IssuerUnavailable("the feed reader is not configured")
        started = time.monotonic()
        full = self._cursor is None or started - self._last_full >= FULL_RELOAD_SECONDS
        params = {} if full else {"since": self._cursor or ""}
        try:
            answer = await get_json(
                self._client, self._url, params=params, auth=self._auth
            )
            data = answer.data
            rows = _rows(data.get("revocations"))
            disabled = data["disabled"]
            users = frozenset(int(pk) for pk in disabled["users"])
            tenants = frozenset(int(pk) for pk in disabled["tenants"])
            clients = frozenset(str(client) for client in disabled["clients"])
            cursor = str(data["cursor"])
            full = data.get("full") is True
        except IssuerUnavailable as exc:
            self.last_error = str(exc)
            raise
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            self.last_error = f"a malformed feed ({exc!r})"
            raise IssuerUnavailable(self.last_error) from None
        self._feed.apply(rows, full=full, started=started)
        self._feed.set_disabled(users=users, tenants=tenants, clients=clients)
        if full:
            self._last_full = started
        self._cursor = cursor
        self._good_at = started
        self.last_error = ""

    async def run(self, interval: float) -> None:
        """Poll every `interval` seconds until cancelled; failures are logged."""
        failures = 0
        while True:
            try:
                await self.poll()
            except IssuerUnavailable:
                failures += 1
                if failures == 1 or failures % 60 == 0:
                    logger.warning(
                        "Revocation feed poll failed (%d in a row): %s",
                        failures,
                        self.last_error,
                    )
            else:
                if failures:
                    logger.warning(
                        "Revocation feed recovered after %d failures", failures
                    )
                failures = 0
            await anyio.sleep(interval)

    def age(self) -> float:
        """Seconds since the start of the last good poll (inf if none)."""
        if self._good_at is None:
            return float("inf")
        return time.monotonic() - self._good_at

    def unseen_refusal(self) -> str | None:
        """Why a token not accepted before is refused now, or None (see module)."""
        if not self.active or self.age() <= self._bound:
            return None
        return (
            f"the issuer's revocation feed has been unreachable for more than "
            f"{self._bound:.0f} s"
        )

    def status(self) -> tuple[bool, str]:
        """(usable, words) for /readyz."""
        age = self.age()
        error = f"; last poll failed: {self.last_error}" if self.last_error else ""
        if age > self._bound:
            return False, (
                f"failing: no good feed for {age:.0f} s (bound "
                f"{self._bound:.0f} s): refusing tokens not seen before{error}"
            )
        if self.last_error:
            return True, f"stale: last good feed {age:.1f} s ago{error}"
        return True, f"fresh: last good feed {age:.1f} s ago"


REMOTE_FEED = RemoteFeed()

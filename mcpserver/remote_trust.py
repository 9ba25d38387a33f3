"""Resource-server mode: trust the issuer's tokens over HTTP only.

At lifespan start (`connected`), in order: the issuer's RFC 8414 metadata
(its `issuer` must equal MCP_AUTHORIZATION_SERVER exactly), the JWKS at its
`jwks_uri`, and one read of the revocation feed (which checks this
resource server's client credentials). Any of them failing refuses the
start with a one-line `StartupRefused`; config/router.py reports it as the
lifespan's startup failure and uvicorn logs it and exits. While serving,
`run` keeps the JWKS (mcpserver/jwks_cache.py) and the feed
(mcpserver/remote_feed.py) fresh in the background.
"""

import contextlib
from collections.abc import AsyncIterator

from anyio.abc import TaskGroup
from django.conf import settings

from mcpserver.issuer import (
    IssuerMismatch,
    IssuerUnavailable,
    fetch_metadata,
    new_client,
)
from mcpserver.jwks_cache import JWKS
from mcpserver.remote_feed import REMOTE_FEED
from mcpserver.revocations import FEED

FEED_PATH = "/resource-server/feed"


class StartupRefused(Exception):
    """This resource server cannot trust its issuer; the message says why."""


def feed_url() -> str:
    """MCP_REVOCATION_FEED_URL, or the issuer's URL + /resource-server/feed."""
    issuer = settings.MCP_AUTHORIZATION_SERVER
    return settings.MCP_REVOCATION_FEED_URL or issuer.rstrip("/") + FEED_PATH


@contextlib.asynccontextmanager
async def connected() -> AsyncIterator[None]:
    """Check the issuer and load keys and feed; forget them on exit.

    Raises StartupRefused (see the module docstring).
    """
    issuer = settings.MCP_AUTHORIZATION_SERVER
    async with new_client() as client:
        try:
            try:
                metadata = await fetch_metadata(client, issuer)
            except IssuerUnavailable as exc:
                raise StartupRefused(
                    f"resource-server mode: cannot read the issuer's metadata ({exc})"
                ) from None
            except IssuerMismatch as exc:
                raise StartupRefused(f"resource-server mode: {exc}") from None
            JWKS.configure(
                url=metadata.jwks_uri,
                client=client,
                max_cache=settings.MCP_JWKS_MAX_CACHE_SECONDS,
                unknown_interval=settings.MCP_JWKS_UNKNOWN_KID_INTERVAL_SECONDS,
                request_wait=min(
                    settings.MCP_ISSUER_TIMEOUT_SECONDS,
                    settings.MCP_DB_TIMEOUT_SECONDS / 2,
                ),
            )
            REMOTE_FEED.configure(
                feed=FEED,
                url=feed_url(),
                auth=(
                    settings.MCP_AUTHORIZATION_SERVER_CLIENT_ID,
                    settings.MCP_AUTHORIZATION_SERVER_CLIENT_SECRET,
                ),
                client=client,
                unreachable_bound=settings.MCP_ISSUER_UNREACHABLE_SECONDS,
            )
            for what, load in (
                ("JWKS", JWKS.refresh),
                ("revocation feed", REMOTE_FEED.poll),
            ):
                try:
                    await load()
                except IssuerUnavailable as exc:
                    raise StartupRefused(
                        f"resource-server mode: cannot read the issuer's {what} ({exc})"
                    ) from None
            yield
        finally:
            JWKS.clear()
            REMOTE_FEED.clear()


def run(tasks: TaskGroup) -> None:
    """Start the background refresh of the JWKS and the feed in `tasks`."""
    tasks.start_soon(JWKS.run)
    tasks.start_soon(REMOTE_FEED.run, settings.MCP_REVOCATION_POLL_SECONDS)

"""Keep a long-lived response only as long as its token would be accepted.

The pipeline authenticates a request once, at its start; an SSE response
(session mode's GET stream, a POST answered as a stream, a replay) can stay
open for hours after. `serve_while_authorized` runs the handler beside a
watcher that re-checks the request's token with `authenticate` (the same
check a new request gets: the revocation feed, the subject status, `exp`
with the leeway) every MCP_REVOCATION_POLL_SECONDS and at the moment the
token expires. Once the token would be refused, the handler is cancelled
and the response ends: a started response is finished with an empty final
chunk, so the client sees its stream end (and a 401 on its next request);
one not yet started is answered 401 `invalid_token`.

A re-check costs no database query while the feed is fresh (it is the
cached verification of mcpserver/auth.py). If the feed cannot be refreshed
(`FeedUnavailable`), the stream ends too: no token is accepted on stale
revocation data (DESIGN invariant 7), and a new request would get 503.
"""

import logging
from collections.abc import Awaitable, Callable

import anyio

from mcpserver import clock
from mcpserver.asgi_types import Message, Receive, Scope, Send
from mcpserver.auth import FeedUnavailable, Principal, authenticate
from mcpserver.challenges import error_challenge
from mcpserver.pipeline.refusal import Refusal, oauth_error, send_refusal
from mcpserver.token_claims import InvalidToken

logger = logging.getLogger(__name__)

ASGIHandler = Callable[[Scope, Receive, Send], Awaitable[None]]

_AFTER_EXP = 0.01
"""Sleep this much past the expiry instant, so the re-check sees it passed."""


async def refusal_of(principal: Principal, interval: float) -> str:
    """Wait until `principal`'s token would be refused; return why.

    Checks every `interval` seconds and just after `exp` plus the leeway.
    """
    while True:
        expires_in = principal.exp + clock.leeway() - clock.now() + _AFTER_EXP
        await anyio.sleep(max(0.0, min(interval, expires_in)))
        try:
            await authenticate(principal.token)
        except InvalidToken as refused:
            return refused.description
        except FeedUnavailable as unavailable:
            return str(unavailable)
        except Exception:
            # Fail closed, as a new request would on an unexpected error.
            logger.exception("Re-checking the token of an open /mcp response")
            return "token status cannot be checked"


async def serve_while_authorized(
    handler: ASGIHandler,
    scope: Scope,
    receive: Receive,
    send: Send,
    principal: Principal,
    *,
    interval: float,
) -> None:
    """Run `handler(scope, receive, send)`; end it once the token is refused.

    Returns when the handler does, or when the response was cut (see the
    module docstring). The handler's own exceptions propagate.
    """
    started = finished = False

    async def tracked(message: Message) -> None:
        nonlocal started, finished
        if message["type"] == "http.response.start":
            started = True
        elif message["type"] == "http.response.body" and not message.get(
            "more_body", False
        ):
            finished = True
        await send(message)

    reason: str | None = None
    try:
        async with anyio.create_task_group() as tasks:

            async def watch() -> None:
                nonlocal reason
                reason = await refusal_of(principal, interval)
                tasks.cancel_scope.cancel()

            tasks.start_soon(watch)
            await handler(scope, receive, tracked)
            tasks.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # The task group wraps what the handler raised; the caller expects
        # it as it was (e.g. Disconnected), and the watcher never raises.
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise
    if reason is None or finished:
        return
    logger.info("Ending an open /mcp response: %s", reason)
    if started:
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    await send_refusal(
        send,
        Refusal(
            401,
            oauth_error("invalid_token", reason),
            [("www-authenticate", error_challenge("invalid_token"))],
        ),
    )

"""Stage 5, dispatch: hand an admitted request to what answers it.

- in stateless mode only POST is served (405 otherwise: there is no stream
  to resume and no session to end);
- a stateless, handshake-era `tools/call` that mcpserver/fastpath.py takes
  is answered there (the SDK's validation and result shaping, without its
  per-request transport), or 503 with Retry-After when its tool's query or
  its audit row did not finish within MCP_DB_TIMEOUT_SECONDS;
- everything else goes to the SDK's StreamableHTTPSessionManager, with the
  `Admitted` state in the ASGI scope for our handlers (mcpserver/server.py)
  and, in session mode, the SDK's own authenticated user, to which it binds
  each session (and its SSE events: mcpserver/event_store.py); in session
  mode a response lasts only as long as its token would be accepted
  (mcpserver/stream_watch.py), so an open SSE stream ends on revocation and
  at `exp`.
"""

import asyncio

from django.conf import settings
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from mcpserver import fastpath
from mcpserver.asgi_types import Message, Receive, Scope, Send
from mcpserver.audit_sink import AuditSink
from mcpserver.db import DatabaseUnavailable
from mcpserver.pipeline.admitted import SCOPE_KEY, Admitted
from mcpserver.pipeline.inbound import SESSION_ID_HEADER, Inbound, request_id_of
from mcpserver.pipeline.refusal import Refusal, oauth_error, send_body, unavailable
from mcpserver.stream_watch import serve_while_authorized


class Dispatcher:
    """Dispatch for one running session manager; switches fixed at start-up."""

    def __init__(
        self,
        manager: StreamableHTTPSessionManager,
        *,
        sessions: bool,
        fast_path: bool,
        audit: AuditSink,
        recheck_seconds: float = 0.5,
    ) -> None:
        self.manager = manager
        self.sessions = sessions
        self.recheck_seconds = recheck_seconds
        self.fast_path = fast_path and not sessions
        self.audit = audit

    def refuses_before_handlers(self, inbound: Inbound) -> bool:
        """Whether the SDK refuses this request before any handler runs.

        With sessions, a handshake-era POST without a session id that is
        not `initialize` is answered 400 by the SDK (clients rely on that),
        so it is left undecided and unaudited.
        """
        handshake_era = inbound.version in (None, *HANDSHAKE_PROTOCOL_VERSIONS)
        return (
            self.sessions
            and handshake_era
            and inbound.header(SESSION_ID_HEADER) is None
        )

    async def dispatch(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        inbound: Inbound,
        admitted: Admitted,
        *,
        deadline: float | None = None,
    ) -> None:
        """Answer the request; the stages before have accepted it.

        `deadline` (event-loop time) bounds the fast path's answer: past it,
        503 (the SDK path bounds each of its database waits instead).
        """
        if inbound.method != "POST" and not self.sessions:
            raise Refusal(
                405,
                oauth_error("invalid_request", "Only POST is served here."),
                [("allow", "POST")],
            )
        if inbound.message is not None and self._fast_path_takes(inbound):
            try:
                async with asyncio.timeout_at(deadline):
                    answer = await fastpath.answer(
                        inbound.message,
                        version=inbound.version,
                        admitted=admitted,
                        audit=self.audit,
                    )
            except (DatabaseUnavailable, TimeoutError):
                raise unavailable(
                    request_id_of(inbound.message), "the call cannot be completed"
                ) from None
            await send_body(send, 200, answer, [])
            return
        if inbound.body is not None:
            receive = _replay(inbound.body, receive)
        if self.sessions:
            principal = admitted.principal
            scope["user"] = AuthenticatedUser(
                AccessToken(
                    token=principal.token,
                    client_id=principal.client_id,
                    scopes=sorted(principal.scopes),
                    expires_at=principal.exp,
                    resource=settings.MCP_RESOURCE_URL,
                    # The SDK binds a session to (client, issuer, subject):
                    # the tenant is part of the subject, so a user's token
                    # for another tenant cannot use (or replay) the session.
                    subject=f"{principal.user_id}@{principal.tenant_id}",
                    claims={"iss": settings.PUBLIC_URL},
                )
            )
        scope[SCOPE_KEY] = admitted
        if not self.sessions:
            await self.manager.handle_request(scope, receive, send)
            return
        await serve_while_authorized(
            self.manager.handle_request,
            scope,
            receive,
            send,
            admitted.principal,
            interval=self.recheck_seconds,
        )

    def _fast_path_takes(self, inbound: Inbound) -> bool:
        return (
            self.fast_path
            and inbound.message is not None
            and fastpath.eligible(
                inbound.message,
                version=inbound.version,
                accept=inbound.header("accept"),
                content_type=inbound.header("content-type"),
            )
        )


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that yields the already-read body, then the real stream."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay

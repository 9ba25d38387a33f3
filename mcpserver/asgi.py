"""The ASGI app served at /mcp: the stages of mcpserver/pipeline/, in order.

config/router.py calls the app for `/mcp` and enters `lifespan()` once per
process. Every request, of either protocol generation, passes:

1. guard           transport checks; a POST's one JSON-RPC message
2. authentication  bearer token -> Principal (or the 401 challenge)
3. admission       per-tenant and per-client quotas (429 over them);
                   then a body with NaN/Infinity (not JSON) is refused as a
                   parse error, audited now that the caller is known
4. decide          for a tools/call: the policy decision; a refusal is
                   audited and answered here (403 step-up, unknown tool)
5. dispatch        the fast path, or the SDK session manager

A stage refuses by raising `Refusal`, which is sent as it is. Stages 2-4
and the fast path's answer share one deadline, MCP_DB_TIMEOUT_SECONDS
after the guard: past it the request is answered 503 with Retry-After
(the database did not answer in time). The start-up switches
(MCP_SESSIONS, MCP_FAST_TOOLS_CALL, MCP_AUDIT_TOOL_CALLS), that bound and
the guard's settings are read once, when the lifespan starts.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import anyio
from django.conf import settings
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from audit import writer as audit_writer
from mcpserver import remote_trust, revocations
from mcpserver.asgi_types import Receive, Scope, Send
from mcpserver.audit_sink import build_sink
from mcpserver.auth import reset_process_state
from mcpserver.event_store import EventStores
from mcpserver.pipeline.admission import Admission
from mcpserver.pipeline.admitted import RPC_ID_KEY, SCOPE_KEY, Admitted
from mcpserver.pipeline.authentication import authenticate_request
from mcpserver.pipeline.decide import decide_call
from mcpserver.pipeline.dispatch import Dispatcher
from mcpserver.pipeline.guard import TransportGuard
from mcpserver.pipeline.inbound import Inbound, request_id_of
from mcpserver.pipeline.parse_error import refuse_non_json
from mcpserver.pipeline.refusal import (
    Disconnected,
    Refusal,
    oauth_error,
    send_refusal,
    unavailable,
)
from mcpserver.policy import clear_policy_cache
from mcpserver.quotas import QuotaDefaults, QuotaLimiter, QuotaStatus
from mcpserver.refusal_log import CoalescedRefusals
from mcpserver.server import build_server
from mcpserver.session_manager import ResumableSessionManager

logger = logging.getLogger(__name__)

AUDIT_SHUTDOWN_SECONDS = audit_writer.DRAIN_SECONDS + audit_writer.STOP_SECONDS + 5
"""Shutdown's bound on the writer's own drain and thread stop (each bounded
and logged by audit/writer.py), so neither is cut short from outside."""

_NOT_RUNNING = Refusal(
    503, oauth_error("temporarily_unavailable", "The MCP server is not running.")
)


class McpApp:
    """The /mcp ASGI app; see the module docstring for the stages."""

    def __init__(self) -> None:
        self._dispatcher: Dispatcher | None = None
        self._guard: TransportGuard | None = None
        self._admission = Admission()  # admits everything until started
        self._db_timeout = 0.0

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Build the stages, run the SDK session manager and the poller.

        A session manager runs only once, so each lifespan builds a new one.
        Per-process caches start empty. In resource-server mode the issuer
        is checked first (mcpserver/remote_trust.py): an untrustworthy or
        unreachable issuer fails the start. At shutdown the audit writer is
        drained, shielded from cancellation, so events queued by calls that
        were cut short still commit.
        """
        reset_process_state()
        clear_policy_cache()
        self._db_timeout = settings.MCP_DB_TIMEOUT_SECONDS
        sessions = bool(settings.MCP_SESSIONS)
        audit = build_sink(audit_tool_calls=settings.MCP_AUDIT_TOOL_CALLS)
        events = EventStores.from_settings() if sessions else None
        manager = (
            ResumableSessionManager(
                app=build_server(audit=audit),
                events=events,
                max_request_body_size=settings.MCP_MAX_BODY_BYTES,
            )
            if events is not None
            else StreamableHTTPSessionManager(
                app=build_server(audit=audit),
                stateless=True,
                json_response=True,
                max_request_body_size=settings.MCP_MAX_BODY_BYTES,
            )
        )
        refusals = CoalescedRefusals(audit)
        limiter = QuotaLimiter.from_settings()
        remote = bool(settings.MCP_AUTHORIZATION_SERVER)
        revocations.configure(trust_local=not remote)
        trust = remote_trust.connected() if remote else contextlib.nullcontext()
        try:
            async with trust, manager.run(), anyio.create_task_group() as tasks:
                tasks.start_soon(
                    revocations.poll_forever, settings.MCP_REVOCATION_POLL_SECONDS
                )
                if remote:
                    remote_trust.run(tasks)
                tasks.start_soon(refusals.run)
                self._admission = Admission(
                    limiter, refusals, QuotaDefaults.from_settings()
                )
                self._guard = TransportGuard.from_settings()
                self._dispatcher = Dispatcher(
                    manager,
                    sessions=sessions,
                    fast_path=settings.MCP_FAST_TOOLS_CALL,
                    audit=audit,
                    recheck_seconds=settings.MCP_REVOCATION_POLL_SECONDS,
                )
                try:
                    yield
                finally:
                    self._dispatcher = None
                    self._admission = Admission()
                    tasks.cancel_scope.cancel()
        finally:
            with anyio.move_on_after(AUDIT_SHUTDOWN_SECONDS, shield=True):
                await refusals.flush(everything=True)
                await limiter.close()
                if events is not None:
                    await events.close()
                await audit_writer.drain()
                await anyio.to_thread.run_sync(audit_writer.stop)

    def quota_status(self) -> QuotaStatus | None:
        """Where the quota counters live (None before the lifespan starts).

        For readiness: `degraded` means Redis is configured but failing and
        each process counts on its own.
        """
        return self._admission.status()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._handle(scope, receive, send)
        except Refusal as refusal:
            await send_refusal(send, refusal)
        except Disconnected:
            return

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        dispatcher, guard = self._dispatcher, self._guard
        if dispatcher is None or guard is None:
            raise _NOT_RUNNING
        inbound = await guard(scope, receive)
        if inbound.message is not None:
            scope[RPC_ID_KEY] = request_id_of(inbound.message)
        # One bound (MCP_DB_TIMEOUT_SECONDS) for all of the request's waits
        # on the database, however many stages wait: each wait is bounded
        # too (mcpserver/db.py), but several just under it would add up.
        deadline = asyncio.get_running_loop().time() + self._db_timeout
        try:
            async with asyncio.timeout_at(deadline):
                admitted = await self._admit(scope, inbound, dispatcher)
        except TimeoutError:
            raise unavailable(
                request_id_of(inbound.message or {}), "the request ran out of time"
            ) from None
        await dispatcher.dispatch(
            scope, receive, send, inbound, admitted, deadline=deadline
        )

    async def _admit(
        self, scope: Scope, inbound: Inbound, dispatcher: Dispatcher
    ) -> Admitted:
        """Stages 2-4: what dispatch needs, or a Refusal.

        Once the caller is known, the scope says who it is (and the tool it
        calls) for the request log and metrics (config/request_observer.py),
        whatever a later stage answers.
        """
        principal = await authenticate_request(inbound, audit=dispatcher.audit)
        call = inbound.tool_call
        scope[SCOPE_KEY] = Admitted(principal, tool=call.name if call else None)
        await self._admission.admit(principal, inbound)
        if inbound.non_json:
            await refuse_non_json(principal, inbound, audit=dispatcher.audit)
        if call is None or dispatcher.refuses_before_handlers(inbound):
            return Admitted(principal)
        decision = await decide_call(principal, call, inbound, audit=dispatcher.audit)
        admitted = Admitted(principal, tool=call.name, decision=decision)
        scope[SCOPE_KEY] = admitted
        return admitted


def build_mcp_app() -> McpApp:
    """The app config/asgi.py mounts at /mcp (no I/O until its lifespan)."""
    # The SDK logs INFO per request (e.g. every stateless transport's end).
    logging.getLogger("mcp").setLevel(logging.WARNING)
    return McpApp()

"""The ASGI app served at /mcp: transport checks, bearer auth, step-up, the SDK.

config/router.py calls the app for `/mcp` and enters `lifespan()` once per
process. The lifespan runs the SDK's StreamableHTTPSessionManager and the
background poller of the revocation feed and signing keys.

Each request passes, in order:

1. Host and Origin against DJANGO_ALLOWED_HOSTS and PUBLIC_URL
   (421 / 403), a token in the query string (400), a declared body over
   MCP_MAX_BODY_BYTES (413);
2. bearer authentication (401 with an RFC 6750 / RFC 9728 challenge; 503
   if the revocation feed cannot be read);
3. for a POST: the body (413 over the limit), JSON (400 -32700), one
   message per request (400 -32600), a supported MCP-Protocol-Version
   (400 -32022), and for `tools/call` the policy decision: a tool the
   tenant has but the token's scopes do not cover is answered here with
   HTTP 403 and an `insufficient_scope` challenge (after its audit row is
   committed), which works the same for both protocol generations and for
   JSON and SSE responses;
4. in stateless mode, a plain handshake-era `tools/call` is answered by
   mcpserver/fastpath.py (the SDK's validation and result shaping, without
   its per-request transport); everything else goes to the SDK session
   manager (mcpserver/server.py handles the methods either way).

Stateless JSON is the default (any worker serves any request); with
MCP_SESSIONS the manager keeps sessions and answers with SSE, and sessions
are bound to the token's client, issuer and subject.
"""

import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import mcp_types as types
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.lowlevel import Server
from mcp.server.streamable_http import MCP_SESSION_ID_HEADER
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

from audit import writer as audit_writer
from audit.models import AuditEvent
from config.router import Message, Receive, Scope, Send
from mcpserver import audit_sink, fastpath, revocations
from mcpserver.auth import (
    FeedUnavailable,
    InvalidToken,
    Principal,
    authenticate,
    error_challenge,
    insufficient_scope_challenge,
    no_token_challenge,
)
from mcpserver.policy import MISSING_SCOPE, Decision, adecide, clear_policy_cache
from mcpserver.server import (
    RequestState,
    bind_request,
    build_server,
    insufficient_scope_error,
)
from mcpserver.tools import ToolCall

logger = logging.getLogger(__name__)

SUPPORTED_PROTOCOL_VERSIONS = (*HANDSHAKE_PROTOCOL_VERSIONS, *MODERN_PROTOCOL_VERSIONS)
PROTOCOL_VERSION_HEADER = "mcp-protocol-version"
# How long shutdown waits for queued audit events to commit.
AUDIT_DRAIN_SECONDS = 30


class _Disconnected(Exception):
    pass


class _Refusal(Exception):
    """An answer decided before the SDK sees the request."""

    def __init__(
        self,
        status: int,
        payload: dict[str, Any],
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(status)
        self.status = status
        self.payload = payload
        self.headers = headers or []


def _rpc_error(request_id: Any, error: types.ErrorData) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "error": error.model_dump(mode="json", by_alias=True, exclude_none=True),
    }


def _internal_error(request_id: str | int, message: str) -> _Refusal:
    return _Refusal(
        500,
        _rpc_error(
            request_id, types.ErrorData(code=types.INTERNAL_ERROR, message=message)
        ),
    )


def _oauth_error(error: str, description: str) -> dict[str, str]:
    return {"error": error, "error_description": description}


async def _send_json(
    send: Send, status: int, payload: dict[str, Any], headers: list[tuple[str, str]]
) -> None:
    await _send_body(
        send, status, json.dumps(payload, separators=(",", ":")).encode(), headers
    )


async def _send_body(
    send: Send, status: int, body: bytes, headers: list[tuple[str, str]]
) -> None:
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((name.encode("latin-1"), value.encode("latin-1")) for name, value in headers),
    ]
    await send(
        {"type": "http.response.start", "status": status, "headers": raw_headers}
    )
    await send({"type": "http.response.body", "body": body})


def _allowed_hosts() -> list[str]:
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:  # Django's own default
        hosts = [".localhost", "127.0.0.1", "[::1]"]
    public_domain, _ = split_domain_port(urlsplit(settings.PUBLIC_URL).netloc)
    return [*hosts, public_domain]


def _host_allowed(host: str) -> bool:
    domain, _ = split_domain_port(host)
    return bool(domain) and validate_host(domain, _allowed_hosts())


def _origin_allowed(origin: str) -> bool:
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    if parts.path or parts.query or parts.fragment:
        return False
    public = urlsplit(settings.PUBLIC_URL)
    if (parts.scheme, parts.netloc.lower()) == (public.scheme, public.netloc.lower()):
        return True
    return _host_allowed(parts.netloc)


def _headers(scope: Scope) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for name, value in scope["headers"]:
        headers.setdefault(name.decode("latin-1"), []).append(value.decode("latin-1"))
    return headers


def _first(headers: dict[str, list[str]], name: str) -> str | None:
    values = headers.get(name)
    return values[0] if values else None


def _bearer_token(headers: dict[str, list[str]]) -> str | None:
    """The bearer token of the Authorization header, or None without one."""
    values = headers.get("authorization", [])
    if len(values) > 1:
        raise _Refusal(
            400,
            _oauth_error("invalid_request", "More than one Authorization header."),
            [("www-authenticate", error_challenge("invalid_request"))],
        )
    if not values:
        return None
    scheme, _, token = values[0].strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    if not token:
        raise _Refusal(
            401,
            _oauth_error("invalid_token", "Empty bearer token."),
            [("www-authenticate", error_challenge("invalid_token"))],
        )
    return token


def _check_transport(scope: Scope, headers: dict[str, list[str]]) -> None:
    """Host, Origin, query-string tokens and the declared body size."""
    if not _host_allowed(_first(headers, "host") or ""):
        raise _Refusal(421, _oauth_error("invalid_request", "Host not allowed."))
    origin = _first(headers, "origin")
    if origin is not None and not _origin_allowed(origin):
        raise _Refusal(403, _oauth_error("invalid_request", "Origin not allowed."))
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if "access_token" in query:
        raise _Refusal(
            400,
            _oauth_error(
                "invalid_request",
                "Access tokens are accepted only in the Authorization header, "
                "never in the query string.",
            ),
            [("www-authenticate", error_challenge("invalid_request"))],
        )
    length = _first(headers, "content-length")
    if length is not None:
        if not length.isdigit():
            raise _Refusal(400, _oauth_error("invalid_request", "Bad Content-Length."))
        if int(length) > settings.MCP_MAX_BODY_BYTES:
            raise _body_too_large()


def _body_too_large() -> _Refusal:
    return _Refusal(
        413,
        _rpc_error(
            None,
            types.ErrorData(
                code=types.INVALID_REQUEST,
                message=f"Request body larger than {settings.MCP_MAX_BODY_BYTES} bytes",
            ),
        ),
    )


async def _read_body(receive: Receive) -> bytes:
    """The whole request body; raises _Refusal(413) past MCP_MAX_BODY_BYTES."""
    limit = settings.MCP_MAX_BODY_BYTES
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _body_too_large()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


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


def _parse_message(body: bytes) -> Any:
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        raise _Refusal(
            400,
            _rpc_error(
                None, types.ErrorData(code=types.PARSE_ERROR, message="Parse error")
            ),
        ) from None
    if not isinstance(message, dict):
        raise _Refusal(
            400,
            _rpc_error(
                None,
                types.ErrorData(
                    code=types.INVALID_REQUEST,
                    message="Body must be one JSON-RPC request or notification",
                ),
            ),
        )
    return message


def _request_id(message: dict[str, Any]) -> str | int | None:
    request_id = message.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, str | int):
        return None
    return request_id


@dataclass(frozen=True)
class _ToolCallMessage:
    request_id: str | int
    name: str
    arguments: dict[str, Any]


def _tool_call(message: dict[str, Any]) -> _ToolCallMessage | None:
    """The tool call in `message`, if it is a well-formed tools/call request."""
    request_id = _request_id(message)
    params = message.get("params")
    if message.get("method") != "tools/call" or request_id is None:
        return None
    if not isinstance(params, dict) or not isinstance(params.get("name"), str):
        return None
    arguments = params.get("arguments")
    return _ToolCallMessage(
        request_id=request_id,
        name=params["name"],
        arguments=arguments if isinstance(arguments, dict) else {},
    )


class McpApp:
    """The /mcp ASGI app; see the module docstring for what each request passes."""

    def __init__(self, server: Server[Any]) -> None:
        self.server = server
        self._manager: StreamableHTTPSessionManager | None = None
        self._sessions = False

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Run the SDK session manager and the revocation poller.

        A session manager runs only once, so each lifespan makes a new one
        (reading MCP_SESSIONS then). Per-process caches start empty. At
        shutdown the audit writer is drained, shielded from cancellation,
        so events queued by calls that were cut short still commit.
        """
        revocations.reset()
        clear_policy_cache()
        sessions = bool(settings.MCP_SESSIONS)
        manager = StreamableHTTPSessionManager(
            app=self.server,
            stateless=not sessions,
            json_response=not sessions,
            max_request_body_size=settings.MCP_MAX_BODY_BYTES,
        )
        try:
            async with manager.run(), anyio.create_task_group() as tasks:
                tasks.start_soon(
                    revocations.poll_forever, settings.MCP_REVOCATION_POLL_SECONDS
                )
                self._manager, self._sessions = manager, sessions
                try:
                    yield
                finally:
                    self._manager = None
                    tasks.cancel_scope.cancel()
        finally:
            with anyio.move_on_after(AUDIT_DRAIN_SECONDS, shield=True):
                await audit_writer.drain()
                await anyio.to_thread.run_sync(audit_writer.stop)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._handle(scope, receive, send)
        except _Refusal as refusal:
            await _send_json(send, refusal.status, refusal.payload, refusal.headers)
        except _Disconnected:
            return

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        manager = self._manager
        if manager is None:
            raise _Refusal(
                503,
                _oauth_error(
                    "temporarily_unavailable", "The MCP server is not running."
                ),
            )
        headers = _headers(scope)
        _check_transport(scope, headers)
        principal = await self._authenticate(scope, receive, headers)

        if scope["method"] != "POST" and not self._sessions:
            # Stateless: no stream to resume or session to end; a GET stream
            # could never carry anything (MCP transport spec: answer 405).
            raise _Refusal(
                405,
                _oauth_error("invalid_request", "Only POST is served here."),
                [("allow", "POST")],
            )
        decisions: dict[str, Decision] = {}
        if scope["method"] == "POST":
            body = await _read_body(receive)
            message, decisions = await self._check_post(principal, headers, body)
            if self._fast_path_takes(message, headers):
                with bind_request(
                    RequestState(principal=principal, decisions=decisions)
                ):
                    answer = await fastpath.answer(
                        message, version=_first(headers, PROTOCOL_VERSION_HEADER)
                    )
                await _send_body(send, 200, answer, [])
                return
            receive = _replay(body, receive)
        if self._sessions:
            scope["user"] = AuthenticatedUser(
                AccessToken(
                    token=principal.token,
                    client_id=principal.client_id,
                    scopes=sorted(principal.scopes),
                    expires_at=principal.exp,
                    resource=settings.MCP_RESOURCE_URL,
                    subject=str(principal.user_id),
                    claims={"iss": settings.PUBLIC_URL},
                )
            )
        with bind_request(RequestState(principal=principal, decisions=decisions)):
            await manager.handle_request(scope, receive, send)

    def _fast_path_takes(self, message: Any, headers: dict[str, list[str]]) -> bool:
        """Whether mcpserver/fastpath.py answers this (stateless) message."""
        return (
            not self._sessions
            and settings.MCP_FAST_TOOLS_CALL
            and fastpath.eligible(
                message,
                version=_first(headers, PROTOCOL_VERSION_HEADER),
                accept=_first(headers, "accept"),
                content_type=_first(headers, "content-type"),
            )
        )

    async def _check_post(
        self, principal: Principal, headers: dict[str, list[str]], body: bytes
    ) -> tuple[Any, dict[str, Decision]]:
        """Check a POSTed message; return it and the decision for its tools/call."""
        message = _parse_message(body)
        version = _first(headers, PROTOCOL_VERSION_HEADER)
        if version is not None and version not in SUPPORTED_PROTOCOL_VERSIONS:
            raise _Refusal(
                400,
                _rpc_error(
                    _request_id(message),
                    types.ErrorData(
                        code=types.UNSUPPORTED_PROTOCOL_VERSION,
                        message=f"Unsupported protocol version: {version[:64]}",
                        data={
                            "supported": list(SUPPORTED_PROTOCOL_VERSIONS),
                            "requested": version[:64],
                        },
                    ),
                ),
            )
        call = _tool_call(message)
        if call is None:
            return message, {}
        # Without a session id a stateful server refuses anything but
        # `initialize` with 400 (clients rely on that): leave it to the SDK.
        if (
            self._sessions
            and (version is None or version in HANDSHAKE_PROTOCOL_VERSIONS)
            and _first(headers, MCP_SESSION_ID_HEADER.lower()) is None
        ):
            return message, {}
        return message, {call.name: await self._decide_before_dispatch(principal, call)}

    async def _authenticate(
        self, scope: Scope, receive: Receive, headers: dict[str, list[str]]
    ) -> Principal:
        token = _bearer_token(headers)
        if token is None:
            raise _Refusal(
                401,
                {"error_description": "This resource needs a bearer token."},
                [("www-authenticate", no_token_challenge())],
            )
        try:
            return await authenticate(token)
        except InvalidToken as refused:
            if refused.claims is not None:
                await self._audit_refused_token(scope, receive, refused)
            raise _Refusal(
                401,
                _oauth_error("invalid_token", refused.description),
                [("www-authenticate", error_challenge("invalid_token"))],
            ) from None
        except FeedUnavailable:
            logger.warning("Refusing /mcp: the revocation feed is unavailable")
            raise _Refusal(
                503,
                _oauth_error(
                    "temporarily_unavailable",
                    "Token status cannot be checked right now.",
                ),
                [("retry-after", "1")],
            ) from None

    async def _audit_refused_token(
        self, scope: Scope, receive: Receive, refused: InvalidToken
    ) -> None:
        """Audit a tools/call refused for an authentic token (revoked, disabled).

        Best effort: the call is refused either way.
        """
        claims = refused.claims or {}
        if scope["method"] != "POST":
            return
        try:
            call = _tool_call(_parse_message(await _read_body(receive)))
            if call is None:
                return
            await audit_sink.write_audit(
                {
                    "event": AuditEvent.Event.TOOL_DENIED,
                    "outcome": AuditEvent.Outcome.DENIED,
                    "tenant_id": int(claims["tenant_id"]),
                    "user_id": int(claims["sub"]),
                    "client_id": str(claims.get("client_id", "")),
                    "tool": call.name,
                    "arguments": call.arguments,
                    "reason": f"invalid token: {refused.description}",
                    "request_id": str(call.request_id),
                }
            )
        except (_Refusal, _Disconnected):
            return
        except Exception:
            logger.warning("Could not audit a refused token", exc_info=True)

    async def _decide_before_dispatch(
        self, principal: Principal, message: _ToolCallMessage
    ) -> Decision:
        """Decide a tools/call; answer 403 step-up here when scopes are missing.

        Answering before dispatch gives the same status, challenge and body
        for both protocol generations and for JSON and SSE responses. The
        decision is handed to the handler, so a call is decided once.
        """
        try:
            decision = await adecide(principal, message.name)
        except Exception:
            logger.exception("Reading the tool policy failed")
            raise _internal_error(message.request_id, "Internal error") from None
        if decision.reason != MISSING_SCOPE:
            return decision
        call = ToolCall(
            principal=principal,
            name=message.name,
            arguments=message.arguments,
            request_id=str(message.request_id),
        )
        try:
            await audit_sink.write_audit(
                call.audit_fields(
                    event=AuditEvent.Event.TOOL_DENIED,
                    outcome=AuditEvent.Outcome.DENIED,
                    reason=decision.audit_reason,
                )
            )
        except Exception:
            logger.exception("Audit write failed; refusing to answer %s", call.name)
            raise _internal_error(
                message.request_id, "Internal error: the call could not be audited"
            ) from None
        raise _Refusal(
            403,
            _rpc_error(
                message.request_id, insufficient_scope_error(call.name, decision)
            ),
            [
                (
                    "www-authenticate",
                    insufficient_scope_challenge(sorted(decision.required_scopes)),
                )
            ],
        )


def build_mcp_app() -> McpApp:
    """The app config/asgi.py mounts at /mcp (no I/O until its lifespan)."""
    # The SDK logs INFO per request (e.g. every stateless transport's end).
    logging.getLogger("mcp").setLevel(logging.WARNING)
    return McpApp(build_server())

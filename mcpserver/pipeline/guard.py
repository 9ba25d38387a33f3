"""Stage 1, the transport guard: is this an HTTP request /mcp can read?

A `TransportGuard` checks, in order, and raises `Refusal` at the first
failure:

- `Host` against DJANGO_ALLOWED_HOSTS and PUBLIC_URL (421) and `Origin`
  (scheme, host and port; 403), before anything else, so a rebinding page
  learns nothing, not even whether a token would be accepted;
- an access token in the query string (400, RFC 6750 §2.3 is not offered);
- a declared or streamed body over MCP_MAX_BODY_BYTES (413);
- for a POST: JSON (400 -32700), exactly one JSON-RPC object (400 -32600)
  of JSON-RPC 2.0's shape (`jsonrpc`, a string `method`, a string or
  integer `id`: -32600; object `params`: -32602; mcpserver/pipeline/
  message_shape.py) and a served
  MCP-Protocol-Version (400 -32022, listing the versions that
  `server/discover` advertises, as the SDK does). `NaN`, `Infinity` and
  `-Infinity` are not JSON (RFC 8259 §6) but Python's parser reads them:
  such a message is marked `Inbound.non_json` (the constants read as null)
  and refused as a parse error once the caller is known, so that the
  refusal is audited (mcpserver/pipeline/parse_error.py);
- for a 2026-07-28 request: the SDK's own envelope and routing-header
  ladder (`_meta` envelope, `Mcp-Method` / `Mcp-Name` against the body, no
  duplicated routing header), answered with the SDK's codes and statuses.
  It runs here, before authentication and the policy decision, so a client
  whose headers disagree with its body is told so (400 -32020), not given
  a step-up 403 for a call it did not make.

It also trims surrounding whitespace from header values in the ASGI scope
(RFC 9110 §5.5: it is not part of the value), so the SDK's comparison of
`Mcp-Name` / `Mcp-Method` with the body sees `echo`, not `  echo  `.
"""

from typing import Any
from urllib.parse import parse_qs, urlsplit

import mcp_types as types
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from mcp.shared.inbound import (
    ERROR_CODE_HTTP_STATUS,
    InboundLadderRejection,
    classify_inbound_request,
    find_duplicated_routing_header,
    unsupported_protocol_version_rejection,
)
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

from mcpserver.asgi_types import Receive, Scope
from mcpserver.challenges import error_challenge
from mcpserver.pipeline.inbound import (
    PROTOCOL_VERSION_HEADER,
    Inbound,
    request_id_of,
)
from mcpserver.pipeline.message_shape import parse_message
from mcpserver.pipeline.refusal import Disconnected, Refusal, oauth_error, rpc_error

SERVED_PROTOCOL_VERSIONS = frozenset(
    (*HANDSHAKE_PROTOCOL_VERSIONS, *MODERN_PROTOCOL_VERSIONS)
)
_MAX_ECHOED_VERSION = 64
_OWS = (b" ", b"\t")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class TransportGuard:
    """The guard for one server lifespan: settings are read when it is built.

    ALLOWED_HOSTS, DEBUG, PUBLIC_URL and MCP_MAX_BODY_BYTES are read once
    (`from_settings`), not on every request.
    """

    def __init__(
        self, *, allowed_hosts: list[str], public_url: str, max_body_bytes: int
    ) -> None:
        public = urlsplit(public_url)
        public_domain, _ = split_domain_port(public.netloc)
        self.allowed_hosts = [*allowed_hosts, public_domain]
        self.public_origin = (public.scheme, public.netloc.lower())
        self.public_scheme = public.scheme
        self.max_body_bytes = max_body_bytes

    @classmethod
    def from_settings(cls) -> "TransportGuard":
        hosts = list(settings.ALLOWED_HOSTS)
        if settings.DEBUG and not hosts:  # Django's own default
            hosts = [".localhost", "127.0.0.1", "[::1]"]
        return cls(
            allowed_hosts=hosts,
            public_url=settings.PUBLIC_URL,
            max_body_bytes=settings.MCP_MAX_BODY_BYTES,
        )

    async def __call__(self, scope: Scope, receive: Receive) -> Inbound:
        """Check the request (see the module docstring) and read a POST's body.

        Raises Refusal, or Disconnected if the client left mid-body.
        """
        headers = _trimmed_headers(scope)
        host = _first(headers, "host") or ""
        if not self._host_allowed(host):
            raise Refusal(421, oauth_error("invalid_request", "Host not allowed."))
        origin = _first(headers, "origin")
        if origin is not None and not self._origin_allowed(origin, host):
            raise Refusal(403, oauth_error("invalid_request", "Origin not allowed."))
        query_string = scope.get("query_string", b"")
        if query_string and "access_token" in parse_qs(query_string.decode("latin-1")):
            raise Refusal(
                400,
                oauth_error(
                    "invalid_request",
                    "Access tokens are accepted only in the Authorization header, "
                    "never in the query string.",
                ),
                [("www-authenticate", error_challenge("invalid_request"))],
            )
        length = _first(headers, "content-length")
        if length is not None:
            if not length.isdigit():
                raise Refusal(
                    400, oauth_error("invalid_request", "Bad Content-Length.")
                )
            if int(length) > self.max_body_bytes:
                raise self._body_too_large()
        if scope["method"] != "POST":
            return Inbound(method=scope["method"], headers=headers)
        body = await self._read_body(receive)
        message, non_json = parse_message(body)
        version = _first(headers, PROTOCOL_VERSION_HEADER)
        _check_version(version, message)
        if version in MODERN_PROTOCOL_VERSIONS and not non_json:
            _check_modern_envelope(headers, message)
        return Inbound(
            method="POST",
            headers=headers,
            body=body,
            message=message,
            non_json=non_json,
        )

    def _host_allowed(self, host: str) -> bool:
        domain, _ = split_domain_port(host)
        return bool(domain) and validate_host(domain, self.allowed_hosts)

    def _origin_allowed(self, origin: str, host: str) -> bool:
        """PUBLIC_URL's origin, or the origin of the Host this request named.

        Scheme, host and port are compared, not the host alone: another
        port on an allowed host (http://localhost:1) is another origin,
        another local service or a rebinding page. The request's own Host
        (an allowed one, with PUBLIC_URL's scheme) counts as this server:
        a client behind a loopback proxy reaches it on the proxy's port.
        """
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return False
        if parts.path or parts.query or parts.fragment:
            return False
        if (parts.scheme, parts.netloc.lower()) == self.public_origin:
            return True
        try:
            origin_port = parts.port or _DEFAULT_PORTS[parts.scheme]
            host_parts = urlsplit(f"{parts.scheme}://{host}")
            host_port = host_parts.port or _DEFAULT_PORTS[parts.scheme]
        except ValueError:
            return False
        return (
            parts.scheme == self.public_scheme
            and (parts.hostname, origin_port) == (host_parts.hostname, host_port)
            and self._host_allowed(parts.netloc)
        )

    def _body_too_large(self) -> Refusal:
        return Refusal(
            413,
            rpc_error(
                None,
                types.ErrorData(
                    code=types.INVALID_REQUEST,
                    message=f"Request body larger than {self.max_body_bytes} bytes",
                ),
            ),
        )

    async def _read_body(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise self._body_too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _trimmed_headers(scope: Scope) -> dict[str, list[str]]:
    """The headers by lower-case name; trims values in `scope` too."""
    raw = scope["headers"]
    if any(value[:1] in _OWS or value[-1:] in _OWS for _, value in raw):
        raw = [(name, value.strip(b" \t")) for name, value in raw]
        scope["headers"] = raw
    headers: dict[str, list[str]] = {}
    for name, value in raw:
        headers.setdefault(name.decode("latin-1"), []).append(value.decode("latin-1"))
    return headers


def _first(headers: dict[str, list[str]], name: str) -> str | None:
    values = headers.get(name)
    return values[0] if values else None


def _refuse(rejection: InboundLadderRejection, request_id: str | int | None) -> None:
    raise Refusal(
        ERROR_CODE_HTTP_STATUS.get(rejection.code, 400),
        rpc_error(
            request_id,
            types.ErrorData(
                code=rejection.code, message=rejection.message, data=rejection.data
            ),
        ),
    )


def _check_modern_envelope(
    headers: dict[str, list[str]], message: dict[str, Any]
) -> None:
    """The SDK's 2026-07-28 ladder for a request (notifications are the SDK's)."""
    request_id = request_id_of(message)
    if request_id is None or not isinstance(message.get("method"), str):
        return  # not a well-formed request: the SDK answers it
    pairs = ((name, value) for name, values in headers.items() for value in values)
    duplicated = find_duplicated_routing_header(pairs)
    if duplicated is not None:
        _refuse(
            InboundLadderRejection(
                code=types.HEADER_MISMATCH,
                message=f"{duplicated} header appears more than once",
            ),
            request_id,
        )
    verdict = classify_inbound_request(
        message, headers={name: values[0] for name, values in headers.items()}
    )
    if isinstance(verdict, InboundLadderRejection):
        _refuse(verdict, request_id)


def _check_version(version: str | None, message: dict[str, Any]) -> None:
    if version is None or version in SERVED_PROTOCOL_VERSIONS:
        return
    rejection = unsupported_protocol_version_rejection(version[:_MAX_ECHOED_VERSION])
    if rejection is None:  # the SDK serves a revision this module does not list
        return
    _refuse(rejection, request_id_of(message))

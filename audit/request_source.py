"""Where a web request came from, for the audit rows it makes.

The rows of web events (sign-ins, consent, tokens, registrations, the
operator console's changes) are made deep below the view that received the
request: in DOT's validator, in Django's auth signals, in services that
take no request. `RequestSourceMiddleware` notes the request's address and
user agent in a context variable for the duration of the request, and
`audit.services.pending_event` reads it; each row so records the request
that caused it, without every caller passing it along.

The address is the one the ASGI server reports (`REMOTE_ADDR`); behind a
proxy, that is what the server was told to trust (uvicorn's
`--forwarded-allow-ips`). The /mcp app is mounted beside Django, not inside
it, so tool calls never set it.
"""

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse

USER_AGENT_CHARS = 256
IP_CHARS = 45  # the longest IPv6 text form


@dataclass(frozen=True, slots=True)
class RequestSource:
    """A request's client address and user agent, cut to their columns."""

    ip: str | None
    user_agent: str | None


_current: ContextVar[RequestSource | None] = ContextVar(
    "audit_request_source", default=None
)


def current_source() -> RequestSource | None:
    """The source of the web request being handled, or None outside one."""
    return _current.get()


def source_of(request: HttpRequest) -> RequestSource:
    """`request`'s address and user agent (None where the request has none)."""
    ip = request.META.get("REMOTE_ADDR") or None
    agent = request.META.get("HTTP_USER_AGENT") or None
    return RequestSource(
        ip=ip[:IP_CHARS] if ip else None,
        user_agent=agent[:USER_AGENT_CHARS] if agent else None,
    )


class RequestSourceMiddleware:
    """Sets `current_source()` for the views (and everything under them)."""

    sync_capable = True
    async_capable = True

    def __init__(
        self, get_response: Callable[[HttpRequest], HttpResponse | Awaitable]
    ) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable:
        if self.is_async:
            return self._acall(request)
        token = _current.set(source_of(request))
        try:
            return self.get_response(request)  # type: ignore[return-value]
        finally:
            _current.reset(token)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        token = _current.set(source_of(request))
        try:
            return await self.get_response(request)  # type: ignore[misc]
        finally:
            _current.reset(token)

"""Per-address limits of /register and /token, and their 429 answer.

Fixed one-minute windows per source address (IPv6 by /64) in Django's
cache (accounts/throttle.py: atomic, shared by every worker when the cache
is Redis). Over a limit the endpoint answers 429 with Retry-After (the
seconds left in the window) and an RFC 6749 §5.2-shaped body,
`{"error": "too_many_requests", ...}`. No OAuth RFC names an error for rate
limits (`slow_down` is RFC 8628's device polling, `temporarily_unavailable`
an authorization-endpoint redirect error); the status says what happened,
and `too_many_requests` is what the MCP SDKs' own authorization servers send
from these endpoints, and what their clients parse.

Refusals are audited coalesced: the first refusal of a window for a key is
one row (outcome denied, reason rate_limited, with the previous window's
refusals if there were any); the rest of that window's refusals leave none,
so a flood cannot flood the audit log.
"""

from http import HTTPStatus

from django.db import transaction
from django.http import HttpRequest, JsonResponse

from accounts import throttle
from audit.models import AuditEvent
from audit.services import record_event
from oauth.errors import oauth_error

WINDOW_SECONDS = 60


def too_many_requests(description: str, *, retry_after: int) -> JsonResponse:
    """A 429 with Retry-After and an OAuth-shaped error body, never cached."""
    response = oauth_error(
        "too_many_requests", description, status=HTTPStatus.TOO_MANY_REQUESTS
    )
    response["Retry-After"] = str(retry_after)
    return response


def refuse_over_limit(
    request: HttpRequest,
    *,
    endpoint: str,
    event: str,
    per_address: int,
    overall: int = 0,
) -> JsonResponse | None:
    """Count `request` against `endpoint`'s limits; the 429 once over one.

    `per_address` and `overall` are requests a minute (0: no such limit);
    the overall limit keeps rotating addresses from lifting the ceiling. An
    address over its own limit does not use up the overall one. The first
    refusal of a window is audited as `event` (outcome denied) in a
    transaction of its own. Returns None while the request is within every
    limit.
    """
    address = throttle.address_key(request.META.get("REMOTE_ADDR", "") or "")
    limits = [
        (f"{endpoint}:addr", address, per_address),
        (f"{endpoint}:all", "all addresses", overall),
    ]
    for name, who, limit in limits:
        if limit <= 0:
            continue
        key = throttle.key_for(name, who)
        count = throttle.hit(key, window_seconds=WINDOW_SECONDS)
        if count.count <= limit:
            continue
        if count.count == limit + 1:
            _audit(endpoint, event, key=key, who=who, limit=limit, count=count)
        return too_many_requests(
            f"More than {limit} requests a minute to {endpoint} from {who}; "
            f"retry in {count.retry_after} s.",
            retry_after=count.retry_after,
        )
    return None


def _audit(
    endpoint: str,
    event: str,
    *,
    key: str,
    who: str,
    limit: int,
    count: throttle.Count,
) -> None:
    previous = throttle.current(key, window_seconds=WINDOW_SECONDS, previous=True)
    with transaction.atomic():
        record_event(
            event=event,
            outcome=AuditEvent.Outcome.DENIED,
            reason=(
                f"rate_limited: more than {limit} requests a minute to "
                f"{endpoint} from {who}; refusing for {count.retry_after} s "
                "(further refusals in this window not recorded)"
            ),
            arguments={
                "endpoint": endpoint,
                "limit": limit,
                "window_seconds": WINDOW_SECONDS,
                "retry_after": count.retry_after,
                "refused_in_previous_window": max(0, previous - limit),
            },
        )

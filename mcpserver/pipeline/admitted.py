"""What the stages established for one request, as the handlers receive it.

Dispatch stores an `Admitted` in the request's ASGI scope under
`SCOPE_KEY`; the SDK hands that scope back to our handlers with each
message (`ctx.request.scope`, for every transport and protocol
generation), so the principal and the decision travel with the request
itself rather than through a context variable.
"""

from dataclasses import dataclass
from typing import Any

from mcpserver.auth import Principal
from mcpserver.policy import Decision

SCOPE_KEY = "mcpserver.admitted"
RPC_ID_KEY = "mcpserver.rpc_id"
"""The request's JSON-RPC id (what its audit rows record as request_id),
kept in the scope for the request log (config/request_observer.py)."""


@dataclass(frozen=True)
class Admitted:
    """An authenticated, admitted request and, for a `tools/call`, its decision.

    `tool` is the name the decision is for (None when the request is not a
    `tools/call`, or is one the SDK refuses before any handler runs).
    """

    principal: Principal
    tool: str | None = None
    decision: Decision | None = None


def admitted_from(request: Any) -> Admitted | None:
    """The Admitted stored in `request`'s scope (a Starlette Request), if any."""
    scope = getattr(request, "scope", None)
    if scope is None:
        return None
    found = scope.get(SCOPE_KEY)
    return found if isinstance(found, Admitted) else None

"""One HTTP exchange of the OAuth client, and how a bad answer reads.

Shared by the steps of the flow (harness/flow.py): `send` turns transport
failures into `Unreachable`; `json_object` and `oauth_error` turn an
answer the client cannot use into `AuthenticationFailed` with what the
server said. `Step` is how each step reports its line; `quiet` drops it.
"""

from collections.abc import Callable
from typing import Any

import httpx2

from harness.errors import AuthenticationFailed, UnknownClient, Unreachable

Step = Callable[[str], None]


def quiet(_line: str) -> None:
    """The default `Step`: report nothing."""
    return None


def send(client: httpx2.Client, method: str, url: str, **kwargs: Any) -> Any:
    """One HTTP exchange; transport failures become `Unreachable`."""
    try:
        return client.request(method, url, **kwargs)
    except httpx2.TransportError as exc:
        raise Unreachable(f"{method} {url}: {exc or type(exc).__name__}") from None


def json_object(response: Any, what: str) -> dict[str, Any]:
    """The JSON object `response` carries, or AuthenticationFailed naming `what`."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise AuthenticationFailed(
            f"{what} answered HTTP {response.status_code} without a JSON object"
        )
    return body


def oauth_error(response: Any, what: str) -> AuthenticationFailed:
    """The failure `response` reports: its OAuth error, or the start of its body.

    `invalid_client` becomes UnknownClient, so that a client reusing a
    registration can tell that the server no longer knows it.
    """
    try:
        body = response.json()
    except ValueError:
        body = {}
    if isinstance(body, dict) and body.get("error"):
        detail = body["error"]
        if body.get("error_description"):
            detail += f": {body['error_description']}"
    else:
        detail = response.text[:200].strip() or "(empty body)"
    unknown = isinstance(body, dict) and body.get("error") == "invalid_client"
    failure = UnknownClient if unknown else AuthenticationFailed
    return failure(f"{what} answered HTTP {response.status_code}: {detail}")

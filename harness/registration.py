"""Step 4 of the flow: dynamic client registration (RFC 7591).

`register` registers a public client (no secret, `token_endpoint_auth_method`
none) for one redirect URI at the endpoint the discovery found;
`loopback_redirect_uri` picks the loopback callback a terminal client uses,
and `register_loopback` registers for one, returning the `Registration`
that later runs may reuse (harness/registration_cache.py).
"""

import socket
from dataclasses import dataclass

import httpx2

from harness.discovery import CLIENT_NAME, Discovery
from harness.errors import AuthenticationFailed
from harness.exchange import Step, json_object, oauth_error, quiet, send


@dataclass(frozen=True)
class Registration:
    """A public client: its id and the one redirect URI it registered."""

    client_id: str
    redirect_uri: str


def loopback_redirect_uri() -> str:
    """A loopback callback on a free port; nothing listens, it is only read."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/callback"


def register(
    client: httpx2.Client,
    discovery: Discovery,
    *,
    redirect_uri: str,
    scope: str,
    client_name: str = CLIENT_NAME,
    step: Step = quiet,
) -> str:
    """Step 4: register a public client for `redirect_uri`; return its id.

    Raises AuthenticationFailed when registration is refused or says nothing.
    """
    endpoint = discovery.metadata["registration_endpoint"]
    response = send(
        client,
        "POST",
        endpoint,
        json={
            "client_name": client_name,
            "redirect_uris": [redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "scope": scope,
        },
    )
    if response.status_code not in (200, 201):
        raise oauth_error(response, "registration")
    client_id = json_object(response, "registration").get("client_id")
    if not client_id:
        raise AuthenticationFailed("registration returned no client_id")
    step(f"POST {endpoint} -> client_id {client_id} (public, {redirect_uri})")
    return str(client_id)


def register_loopback(
    client: httpx2.Client,
    discovery: Discovery,
    *,
    scope: str,
    client_name: str = CLIENT_NAME,
    step: Step = quiet,
) -> Registration:
    """Register a public client for a fresh loopback redirect URI.

    Nothing ever listens there (the stand-in browser only reads the
    redirect), so the URI stays usable for as long as the registration.
    Raises what `register` raises.
    """
    redirect_uri = loopback_redirect_uri()
    client_id = register(
        client,
        discovery,
        redirect_uri=redirect_uri,
        scope=scope,
        client_name=client_name,
        step=step,
    )
    return Registration(client_id=client_id, redirect_uri=redirect_uri)

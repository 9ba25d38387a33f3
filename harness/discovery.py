"""Steps 1-3 of the flow: from an MCP URL to its authorization server.

`discover` POSTs to the MCP endpoint without a token and follows the 401:
its `WWW-Authenticate` challenge names the protected-resource metadata
(RFC 9728) and the scope to ask for; that metadata names the resource
(which must be the URL given) and the issuer; the issuer's metadata
(RFC 8414) must name that issuer, offer PKCE S256 and list the endpoints
the later steps use. The result is a checked `Discovery`.
"""

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx2

from harness.errors import AuthenticationFailed
from harness.exchange import Step, json_object, oauth_error, quiet, send

CLIENT_NAME = "manage.py harness"
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class Discovery:
    """What the server advertises, checked for consistency."""

    mcp_url: str
    challenge_scope: str
    resource: str
    issuer: str
    metadata: dict[str, Any]


def challenge_params(header: str) -> dict[str, str]:
    """The `name="value"` parameters of a `WWW-Authenticate: Bearer` header."""
    return dict(_CHALLENGE_PARAM.findall(header))


def authorization_server_metadata_url(issuer: str) -> str:
    """RFC 8414 §3.1: the well-known segment goes before the issuer's path."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    return (
        f"{parts.scheme}://{parts.netloc}/.well-known/oauth-authorization-server{path}"
    )


def discover(client: httpx2.Client, mcp_url: str, step: Step = quiet) -> Discovery:
    """Steps 1-3: from the MCP URL to the authorization server's metadata."""
    probe = send(
        client,
        "POST",
        mcp_url,
        json={
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": CLIENT_NAME, "version": "1"},
            },
        },
        headers={"Accept": "application/json, text/event-stream"},
    )
    if probe.status_code != 401:
        raise AuthenticationFailed(
            f"POST {mcp_url} without a token answered HTTP {probe.status_code}, "
            "not 401: is this an MCP server with OAuth?"
        )
    challenge = challenge_params(probe.headers.get("www-authenticate", ""))
    resource_metadata_url = challenge.get("resource_metadata")
    if not resource_metadata_url:
        raise AuthenticationFailed("the 401 challenge names no resource_metadata")
    scope = challenge.get("scope", "")
    step(
        f"POST {mcp_url} without a token -> 401, resource_metadata="
        f"{resource_metadata_url}, scope={scope or '(none)'}"
    )

    resource_response = send(client, "GET", resource_metadata_url)
    if resource_response.status_code != 200:
        raise oauth_error(resource_response, "the protected-resource metadata")
    resource_metadata = json_object(
        resource_response, "the protected-resource metadata"
    )
    resource = str(resource_metadata.get("resource", ""))
    if resource.rstrip("/") != mcp_url.rstrip("/"):
        raise AuthenticationFailed(
            f"the server calls its resource {resource!r}, not {mcp_url!r}: connect "
            f"to {resource} (or set PUBLIC_URL to the URL clients use)"
        )
    servers = resource_metadata.get("authorization_servers") or []
    if not servers:
        raise AuthenticationFailed(
            "the resource metadata names no authorization server"
        )
    issuer = str(servers[0])
    step(f"GET {resource_metadata_url} -> resource {resource}, issuer {issuer}")

    metadata_url = authorization_server_metadata_url(issuer)
    metadata_response = send(client, "GET", metadata_url)
    if metadata_response.status_code != 200:
        raise oauth_error(metadata_response, "the authorization-server metadata")
    metadata = json_object(metadata_response, "the authorization-server metadata")
    if metadata.get("issuer") != issuer:
        raise AuthenticationFailed(
            f"the metadata's issuer {metadata.get('issuer')!r} is not {issuer!r}"
        )
    if "S256" not in metadata.get("code_challenge_methods_supported", []):
        raise AuthenticationFailed("the authorization server does not offer PKCE S256")
    for name in ("authorization_endpoint", "token_endpoint", "registration_endpoint"):
        if not metadata.get(name):
            raise AuthenticationFailed(f"the metadata has no {name}")
    step(
        f"GET {metadata_url} -> issuer {issuer}, PKCE S256, registration at "
        f"{metadata['registration_endpoint']}"
    )
    return Discovery(
        mcp_url=mcp_url,
        challenge_scope=scope,
        resource=resource,
        issuer=issuer,
        metadata=metadata,
    )

"""Talking to the issuer in resource-server mode: bounded HTTP, RFC 8414.

Every exchange with the issuer (metadata, JWKS, revocation feed) goes
through `get_json`, which gives up after MCP_ISSUER_TIMEOUT_SECONDS however
the issuer fails (refused, black-holed, slow, a body that never ends): like
the database (mcpserver/db.py), an issuer that does not answer costs a
bounded wait, never a hang.
"""

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx2
from django.conf import settings

METADATA_SUFFIX = "/.well-known/oauth-authorization-server"


class IssuerUnavailable(Exception):
    """The issuer did not answer usefully (unreachable, an error, not JSON)."""


class IssuerMismatch(Exception):
    """The issuer's metadata names another issuer: it must not be trusted."""


@dataclass(frozen=True)
class IssuerMetadata:
    issuer: str
    jwks_uri: str


@dataclass(frozen=True)
class JsonAnswer:
    data: Any
    headers: httpx2.Headers


def new_client() -> httpx2.AsyncClient:
    """The HTTP client of one lifespan (no redirects: URLs are exact)."""
    timeout = settings.MCP_ISSUER_TIMEOUT_SECONDS
    return httpx2.AsyncClient(timeout=timeout, follow_redirects=False)


async def get_json(
    client: httpx2.AsyncClient,
    url: str,
    *,
    params: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
) -> JsonAnswer:
    """GET `url`; its JSON and headers, or IssuerUnavailable (bounded)."""
    try:
        async with asyncio.timeout(settings.MCP_ISSUER_TIMEOUT_SECONDS):
            response = await client.get(url, params=params, auth=auth)
    except TimeoutError:
        raise IssuerUnavailable(f"{url}: no answer in time") from None
    except httpx2.HTTPError as exc:
        raise IssuerUnavailable(f"{url}: {type(exc).__name__}") from exc
    if response.status_code != 200:
        detail = ""
        with contextlib.suppress(ValueError, AttributeError):
            detail = " " + str(response.json().get("error", ""))
        raise IssuerUnavailable(f"{url}: HTTP {response.status_code}{detail}")
    try:
        return JsonAnswer(response.json(), response.headers)
    except ValueError:
        raise IssuerUnavailable(f"{url}: not JSON") from None


def metadata_url(issuer: str) -> str:
    """RFC 8414 §3.1: the well-known suffix goes before the issuer's path."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    return urlunsplit(parts._replace(path=METADATA_SUFFIX + path, query=""))


async def fetch_metadata(client: httpx2.AsyncClient, issuer: str) -> IssuerMetadata:
    """The issuer's RFC 8414 metadata, checked (RFC 8414 §3.3).

    Raises IssuerUnavailable, or IssuerMismatch when the document's
    `issuer` is not exactly `issuer` or it has no `jwks_uri`.
    """
    url = metadata_url(issuer)
    data = (await get_json(client, url)).data
    if not isinstance(data, dict):
        raise IssuerUnavailable(f"{url}: not a JSON object")
    if data.get("issuer") != issuer:
        raise IssuerMismatch(
            f"the metadata at {url} names issuer {data.get('issuer')!r}, "
            f"not the configured MCP_AUTHORIZATION_SERVER {issuer!r}"
        )
    jwks_uri = data.get("jwks_uri")
    if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https:", "http:")):
        raise IssuerMismatch(f"the metadata at {url} has no usable jwks_uri")
    return IssuerMetadata(issuer=issuer, jwks_uri=jwks_uri)

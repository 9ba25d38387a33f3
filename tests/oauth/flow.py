"""Drive the authorization-code flow through Django's test client."""

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import parse_qs, urlencode, urlsplit

from django.conf import settings
from django.test import Client

REDIRECT_URI = "http://localhost:49152/callback"
CLAUDE_CODE_REGISTRATION = {
    "client_name": "Claude Code (demo)",
    "redirect_uris": [REDIRECT_URI],
    "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"],
    "token_endpoint_auth_method": "none",
    "application_type": "native",
    "scope": "tools:call",
}


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def register(client: Client, **overrides: object) -> dict:
    body = {**CLAUDE_CODE_REGISTRATION, **overrides}
    response = client.post(
        "/register", json.dumps(body), content_type="application/json"
    )
    assert response.status_code == HTTPStatus.CREATED, response.content
    return response.json()


@dataclass
class Authorization:
    client_id: str
    verifier: str
    state: str
    query: dict[str, str]

    @property
    def url(self) -> str:
        return f"/authorize?{urlencode(self.query)}"


def start(
    client_id: str,
    *,
    scope: str = "tools:call",
    redirect_uri: str = REDIRECT_URI,
    resource: str | None = None,
    method: str = "S256",
    **extra: str,
) -> Authorization:
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(8)
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
        "code_challenge": challenge if method == "S256" else verifier,
        "code_challenge_method": method,
        "resource": settings.MCP_RESOURCE_URL if resource is None else resource,
        **extra,
    }
    if not query["scope"]:
        query.pop("scope")
    return Authorization(client_id, verifier, state, query)


def redirect_params(response) -> dict[str, str]:
    assert response.status_code == HTTPStatus.FOUND, response.content[:500]
    location = response["Location"]
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def consent(
    client: Client,
    auth: Authorization,
    *,
    allow: bool = True,
    tenant: str | None = None,
):
    """GET the consent page (choosing `tenant` if asked), then approve or deny."""
    page = client.get(auth.url)
    if page.status_code == HTTPStatus.OK and b"choose_tenant" in page.content:
        assert tenant is not None, "a tenant choice was asked for"
        chosen = client.post(auth.url, {"choose_tenant": tenant})
        assert chosen.status_code == HTTPStatus.FOUND
        page = client.get(auth.url)
    assert page.status_code == HTTPStatus.OK, page.content[:500]
    form = {
        key: value
        for key, value in page.context["form"].initial.items()
        if value is not None
    }
    if allow:
        form["allow"] = "Authorize"
    return page, client.post(auth.url, form)


def authorize_code(client: Client, auth: Authorization, **kwargs) -> dict[str, str]:
    _page, response = consent(client, auth, **kwargs)
    return redirect_params(response)


def exchange(client: Client, auth: Authorization, code: str, **extra: str):
    return client.post(
        "/token",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": auth.query["redirect_uri"],
            "client_id": auth.client_id,
            "code_verifier": auth.verifier,
            "resource": settings.MCP_RESOURCE_URL,
            **extra,
        },
    )


def refresh(client: Client, client_id: str, refresh_token: str, **extra: str):
    return client.post(
        "/token",
        {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id,
            **extra,
        },
    )

"""The whole OAuth flow with nothing but `requests`, as an MCP client does it.

401 at /mcp is not needed: discovery starts from the protected-resource
metadata, follows `authorization_servers[0]` to the RFC 8414 metadata,
registers dynamically, authorizes with PKCE S256 through the real login
form (with its CSRF token) and the consent form, and redeems the code.
"""

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from html import unescape
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import requests

REDIRECT_URI = "http://127.0.0.1:53682/callback"


def hidden_inputs(html: str) -> dict[str, str]:
    """The hidden fields of a page's forms (CSRF token, OAuth parameters)."""
    fields = {}
    for tag in re.findall(r"<input[^>]*>", html):
        name = re.search(r'name="([^"]*)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name and 'type="hidden"' in tag:
            fields[unescape(name.group(1))] = unescape(value.group(1)) if value else ""
    return fields


@dataclass(frozen=True)
class Begun:
    """An authorization request of a freshly registered public client."""

    url: str
    client_id: str
    state: str
    verifier: str
    redirect_uri: str


def begin(
    metadata: dict, *, resource: str, redirect_uri: str, scope: str, client_name: str
) -> Begun:
    """Register a public client for `redirect_uri`; return its authorize URL.

    PKCE S256, a fresh `state` and `resource`, as a spec-following client.
    """
    registration = requests.post(
        metadata["registration_endpoint"],
        json={
            "client_name": client_name,
            "redirect_uris": [redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        },
        timeout=10,
    )
    registration.raise_for_status()
    client_id = registration.json()["client_id"]
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        .rstrip(b"=")
        .decode()
    )
    state = secrets.token_urlsafe(12)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "resource": resource,
        }
    )
    return Begun(
        url=f"{metadata['authorization_endpoint']}?{query}",
        client_id=client_id,
        state=state,
        verifier=verifier,
        redirect_uri=redirect_uri,
    )


def obtain_token(
    resource_metadata_url: str, *, username: str, password: str, scope: str
) -> dict:
    """Return the token response (and discovery facts) for `username`."""
    pending = authorize(
        resource_metadata_url, username=username, password=password, scope=scope
    )
    token = requests.post(pending["token_endpoint"], data=pending["redeem"], timeout=10)
    token.raise_for_status()
    return {**token.json(), **pending}


def authorize(
    resource_metadata_url: str, *, username: str, password: str, scope: str
) -> dict:
    """Run the flow up to an authorization code; return what redeeming needs."""
    resource = requests.get(resource_metadata_url, timeout=10).json()
    issuer = resource["authorization_servers"][0]
    metadata = requests.get(
        f"{issuer}/.well-known/oauth-authorization-server", timeout=10
    ).json()
    assert metadata["issuer"] == issuer
    begun = begin(
        metadata,
        resource=resource["resource"],
        redirect_uri=REDIRECT_URI,
        scope=scope,
        client_name="requests script",
    )
    client_id, verifier, state = begun.client_id, begun.verifier, begun.state
    authorize_url = begun.url
    browser = requests.Session()
    login_page = browser.get(authorize_url, timeout=10)  # redirected to the login form
    assert "/accounts/login/" in login_page.url
    form = hidden_inputs(login_page.text)
    consent_page = browser.post(
        login_page.url,
        data={**form, "username": username, "password": password},
        headers={"Referer": login_page.url},
        timeout=10,
    )
    assert "/authorize" in consent_page.url, "login failed"
    consent = hidden_inputs(consent_page.text)
    answer = browser.post(
        consent_page.url,
        data={**consent, "allow": "Authorize"},
        headers={"Referer": consent_page.url},
        allow_redirects=False,
        timeout=10,
    )
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT_URI), location
    params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert params["state"] == state
    assert params["iss"] == metadata["issuer"]

    return {
        "redeem": {
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": REDIRECT_URI,
            "client_id": client_id,
            "code_verifier": verifier,
            "resource": resource["resource"],
        },
        "client_id": client_id,
        "jwks_uri": metadata["jwks_uri"],
        "issuer": issuer,
        "resource": resource["resource"],
        "token_endpoint": metadata["token_endpoint"],
        "base": urljoin(issuer, "/"),
    }

"""The authorization request and its answer: PKCE, /authorize, the code.

Pure pieces, no HTTP, so that Django's in-process test client uses them as
the terminal client does: `pkce_pair` (RFC 7636), `authorization_request`
(PKCE S256, a fresh `state`, `resource` per RFC 8707) and the /token form
of its code (`AuthorizationRequest.token_form`); `query_params` reads an
authorize URL or a redirect, and `code_from_redirect` takes the code from
the redirect to the client (step 6), checking `state` and `iss` (RFC 9207).
`Code` is that code with the request it answers, ready to redeem.
"""

import base64
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

from harness.discovery import Discovery
from harness.errors import AuthenticationFailed, UnknownClient


def pkce_pair() -> tuple[str, str]:
    """A fresh PKCE `(code_verifier, S256 code_challenge)` (RFC 7636 §4)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return verifier, challenge


@dataclass
class AuthorizationRequest:
    """One authorization request: what /authorize receives, and its secrets.

    `query` is sent as is (`url`); a test of the server's refusals may edit
    it first. `redirect_uri` and `resource` are what the client meant, and
    `token_form` sends them, with `verifier`, whatever `query` became.
    `state` and `verifier` never leave the client until the code comes back.
    """

    endpoint: str
    client_id: str
    redirect_uri: str
    resource: str
    state: str
    verifier: str
    query: dict[str, str]

    @property
    def url(self) -> str:
        """The authorize URL: `endpoint` with `query`."""
        return f"{self.endpoint}?{urlencode(self.query)}"

    def token_form(self, code: str) -> dict[str, str]:
        """The /token form that redeems `code` (RFC 6749 §4.1.3, 7636, 8707)."""
        return {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "client_id": self.client_id,
            "code_verifier": self.verifier,
            "resource": self.resource,
        }


def authorization_request(
    endpoint: str,
    *,
    client_id: str,
    redirect_uri: str,
    scope: str,
    resource: str,
    **extra: str,
) -> AuthorizationRequest:
    """A code request with PKCE S256, a fresh `state` and `resource`.

    `endpoint` is the authorization endpoint, absolute or (for Django's test
    client) a path. An empty `scope` is left out, as RFC 6749 §3.3 allows.
    `extra` parameters are added last and win over the ones above.
    """
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "resource": resource,
        **extra,
    }
    if not query["scope"]:
        del query["scope"]
    return AuthorizationRequest(
        endpoint=endpoint,
        client_id=client_id,
        redirect_uri=redirect_uri,
        resource=resource,
        state=state,
        verifier=verifier,
        query=query,
    )


def query_params(url: str) -> dict[str, str]:
    """The query of `url` (authorize URL, redirect), first value of each."""
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def code_from_redirect(
    callback: str, request: AuthorizationRequest, *, issuer: str
) -> str:
    """Step 6: the code of the redirect to the client's `callback` URL.

    `state` must be the request's and `iss` the issuer (RFC 9207). Raises
    AuthenticationFailed with the server's error (UnknownClient for
    `invalid_client`), or with what is wrong.
    """
    params = query_params(callback)
    if "error" in params:
        unknown = params["error"] == "invalid_client"
        raise (UnknownClient if unknown else AuthenticationFailed)(
            f"{params['error']}: {params.get('error_description', '')}".rstrip(": ")
        )
    if params.get("state") != request.state:
        raise AuthenticationFailed("the redirect's state is not the one sent")
    if params.get("iss") != issuer:
        raise AuthenticationFailed(
            f"the redirect's iss {params.get('iss')!r} is not {issuer!r}"
        )
    if not params.get("code"):
        raise AuthenticationFailed("the redirect carries no code")
    return params["code"]


@dataclass(frozen=True)
class Code:
    """An authorization code, the request it answers and where to redeem it."""

    discovery: Discovery
    request: AuthorizationRequest
    value: str

    def token_form(self) -> dict[str, str]:
        """The /token form that redeems this code."""
        return self.request.token_form(self.value)

"""The OAuth 2.1 flow of an MCP client, over HTTP, against a running server.

`sign_in` does what Claude Code does, with the real login and consent forms
standing in for the browser:

1. POST /mcp without a token: a 401 whose `WWW-Authenticate` names the
   resource metadata (RFC 9728) and the scope to ask for;
2. the protected-resource metadata: `resource` must be the URL given, and
   `authorization_servers[0]` is the issuer;
3. the authorization-server metadata (RFC 8414): `issuer` must match, S256
   must be offered;
4. dynamic client registration (RFC 7591) as a public client with a
   loopback redirect URI;
5. /authorize with PKCE S256, `state` and `resource` (RFC 8707); the login
   form with its CSRF token; the tenant chooser when the user has several
   tenants; the consent form;
6. the redirect: `state` must round-trip and `iss` must be the issuer
   (RFC 9207);
7. /token redeems the code with the verifier; the JWT is verified against
   the published JWKS (signature, `iss`, `aud` = the resource).

Nothing here knows the server's internals: only URLs it advertises and the
pages it serves. Each step reports a line through `step`.

This is the project's one hand-written OAuth client. Its steps are public
so that every other client composes them instead of repeating them:
`discover`, `register`, `authorize` (steps 4-6, up to a code) and `redeem`
over HTTP for the live tests; `approve_in_browser` for a stand-in browser
given someone else's authorize URL; and, for Django's in-process test
client, which cannot speak HTTP, the pure pieces: `authorization_request`
(PKCE S256, `state`, `resource`), `AuthorizationRequest.token_form`,
`refresh_form` and `query_params`. Pages are read with `harness.pages`.
"""

import base64
import hashlib
import re
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx2
import jwt

from harness.errors import AuthenticationFailed, Unreachable, UsageError
from harness.pages import Page, parse_page

Step = Callable[[str], None]
CLIENT_NAME = "manage.py harness"
_MAX_REDIRECTS = 10
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


def _quiet(_line: str) -> None:
    return None


@dataclass(frozen=True)
class Discovery:
    """What the server advertises, checked for consistency."""

    mcp_url: str
    challenge_scope: str
    resource: str
    issuer: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class Grant:
    """A token response, with the verified claims of its access token."""

    access_token: str
    refresh_token: str | None
    scopes: list[str]
    expires_in: int | None
    client_id: str
    claims: dict[str, Any]
    discovery: Discovery

    @property
    def tenant(self) -> str:
        return str(self.claims.get("tenant", ""))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _send(client: httpx2.Client, method: str, url: str, **kwargs: Any) -> Any:
    """One HTTP exchange; transport failures become `Unreachable`."""
    try:
        return client.request(method, url, **kwargs)
    except httpx2.TransportError as exc:
        raise Unreachable(f"{method} {url}: {exc or type(exc).__name__}") from None


def _json(response: Any, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise AuthenticationFailed(
            f"{what} answered HTTP {response.status_code} without a JSON object"
        )
    return body


def _oauth_error(response: Any, what: str) -> AuthenticationFailed:
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
    return AuthenticationFailed(
        f"{what} answered HTTP {response.status_code}: {detail}"
    )


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


def discover(client: httpx2.Client, mcp_url: str, step: Step = _quiet) -> Discovery:
    """Steps 1-3: from the MCP URL to the authorization server's metadata."""
    probe = _send(
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

    resource_response = _send(client, "GET", resource_metadata_url)
    if resource_response.status_code != 200:
        raise _oauth_error(resource_response, "the protected-resource metadata")
    resource_metadata = _json(resource_response, "the protected-resource metadata")
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
    metadata_response = _send(client, "GET", metadata_url)
    if metadata_response.status_code != 200:
        raise _oauth_error(metadata_response, "the authorization-server metadata")
    metadata = _json(metadata_response, "the authorization-server metadata")
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


def _loopback_redirect_uri() -> str:
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
    step: Step = _quiet,
) -> str:
    """Step 4: register a public client for `redirect_uri`; return its id.

    Raises AuthenticationFailed when registration is refused or says nothing.
    """
    endpoint = discovery.metadata["registration_endpoint"]
    response = _send(
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
        raise _oauth_error(response, "registration")
    client_id = _json(response, "registration").get("client_id")
    if not client_id:
        raise AuthenticationFailed("registration returned no client_id")
    step(f"POST {endpoint} -> client_id {client_id} (public, {redirect_uri})")
    return str(client_id)


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


def refresh_form(
    *, client_id: str, refresh_token: str, resource: str | None = None
) -> dict[str, str]:
    """The /token form that redeems `refresh_token` (RFC 6749 §6).

    `resource` (RFC 8707) is sent only when given.
    """
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": client_id,
    }
    if resource is not None:
        form["resource"] = resource
    return form


def query_params(url: str) -> dict[str, str]:
    """The query of `url` (authorize URL, redirect), first value of each."""
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def code_from_redirect(
    callback: str, request: AuthorizationRequest, *, issuer: str
) -> str:
    """Step 6: the code of the redirect to the client's `callback` URL.

    `state` must be the request's and `iss` the issuer (RFC 9207). Raises
    AuthenticationFailed with the server's error, or with what is wrong.
    """
    params = query_params(callback)
    if "error" in params:
        raise AuthenticationFailed(
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


class _Browser:
    """A cookie jar that follows redirects on the server and stops at the callback."""

    def __init__(self, client: httpx2.Client, redirect_uri: str) -> None:
        self.client = client
        self.redirect_uri = redirect_uri
        self.url = ""
        self.callback: str | None = None

    def open(self, method: str, url: str, **kwargs: Any) -> Page:
        """Request `url`, follow redirects; return the page (or set `callback`)."""
        response = _send(self.client, method, url, **kwargs)
        for _ in range(_MAX_REDIRECTS):
            if not response.is_redirect:
                break
            location = urljoin(str(response.url), response.headers["location"])
            if location.split("?", 1)[0] == self.redirect_uri:
                self.callback = location
                return Page()
            if _origin(location) != _origin(str(response.url)):
                raise AuthenticationFailed(f"redirected off the server to {location}")
            response = _send(self.client, "GET", location)
        self.url = str(response.url)
        return parse_page(response.text)

    def submit(self, page: Page, form_field: str, **values: str) -> Page:
        """Submit the page's form that has `form_field`, with `values` added."""
        form = page.form_with(form_field)
        if form is None:
            raise AuthenticationFailed(f"the page {self.url} has no {form_field} form")
        target = urljoin(self.url, form.action) if form.action else self.url
        return self.open(
            "POST",
            target,
            data=form.submission(**values),
            headers={"Referer": self.url},
        )


def _page_problem(page: Page) -> str:
    return "; ".join(page.errors) or page.title or "an unexpected page"


def _choose_tenant(
    browser: _Browser, page: Page, *, username: str, tenant: str | None, step: Step
) -> Page:
    form = page.form_with("choose_tenant")
    if form is None:
        return page
    slugs = [b.value for b in form.buttons if b.name == "choose_tenant"]
    if tenant is None:
        raise UsageError(
            f"{username} belongs to several tenants ({', '.join(slugs)}): "
            "say which with --tenant"
        )
    if tenant not in slugs:
        raise AuthenticationFailed(
            f"{username} is not a member of {tenant} (their tenants: "
            f"{', '.join(slugs)})"
        )
    step(f"tenant chooser offers {', '.join(slugs)} -> chose {tenant}")
    return browser.submit(page, "choose_tenant", choose_tenant=tenant)


def _consent(
    browser: _Browser, page: Page, *, username: str, tenant: str | None, step: Step
) -> str:
    """Approve the consent page; return the callback URL it redirects to."""
    if page.form_with("deny") is None:
        raise AuthenticationFailed(f"no consent page: {_page_problem(page)}")
    if tenant is not None and page.tenant != tenant:
        browser.submit(page, "deny", deny="1")
        raise AuthenticationFailed(f"{username} belongs to {page.tenant}, not {tenant}")
    if page.form_with("allow") is None:
        browser.submit(page, "deny", deny="1")
        raise AuthenticationFailed(
            f"nothing that was asked for can be granted to {username} in {page.tenant}"
        )
    step(
        f"consent: {username} in {page.tenant}, grants "
        f"{' '.join(page.granted_scopes)} -> Allow"
    )
    browser.submit(page, "allow", allow="Authorize")
    if browser.callback is None:
        raise AuthenticationFailed(
            f"consent did not redirect back: {_page_problem(page)}"
        )
    return browser.callback


@dataclass(frozen=True)
class Approval:
    """Where the server sent the browser, and the consent page it approved.

    `consent` is None when the server redirected without asking.
    """

    callback: str
    consent: Page | None


def approve_in_browser(
    web: httpx2.Client,
    authorize_url: str,
    *,
    redirect_uri: str,
    username: str,
    password: str,
    tenant: str | None = None,
    step: Step = _quiet,
) -> Approval:
    """Step 5 as a person does it: sign in, choose `tenant`, press Allow.

    `web` is the browser's cookie jar (a client that does not follow
    redirects); `authorize_url` may be any client's. Stops at the redirect
    to `redirect_uri`, which it does not request. `tenant` is required when
    the user has several. Raises AuthenticationFailed (a refused login, an
    unexpected page, a tenant they are not in, nothing to grant) or
    UsageError (several tenants and no `tenant`); on a refusal after
    sign-in it presses Deny first.
    """
    scope = query_params(authorize_url).get("scope", "")
    browser = _Browser(web, redirect_uri)
    page = browser.open("GET", authorize_url)
    if browser.callback is not None:
        return Approval(browser.callback, None)
    if page.form_with("password") is None:
        raise AuthenticationFailed(
            f"/authorize did not show the login form: {_page_problem(page)}"
        )
    step(f"GET /authorize (PKCE S256, scope {scope!r}) -> login form")
    page = browser.submit(page, "password", username=username, password=password)
    if browser.callback is not None:
        return Approval(browser.callback, None)
    if page.form_with("password") is not None:
        raise AuthenticationFailed(f"{username}: {_page_problem(page)}")
    step(f"POST the login form as {username} -> signed in")
    page = _choose_tenant(browser, page, username=username, tenant=tenant, step=step)
    if browser.callback is not None:
        return Approval(browser.callback, None)
    callback = _consent(browser, page, username=username, tenant=tenant, step=step)
    return Approval(callback, page)


@dataclass(frozen=True)
class Code:
    """An authorization code, the request it answers and where to redeem it."""

    discovery: Discovery
    request: AuthorizationRequest
    value: str

    def token_form(self) -> dict[str, str]:
        """The /token form that redeems this code."""
        return self.request.token_form(self.value)


def authorize(
    client: httpx2.Client,
    discovery: Discovery,
    *,
    username: str,
    password: str,
    tenant: str | None = None,
    scope: str | None = None,
    client_name: str = CLIENT_NAME,
    step: Step = _quiet,
) -> Code:
    """Steps 4-6: register, sign in and consent as `username`; return the code.

    `scope` defaults to what the 401 challenge asked for. The browser gets
    its own cookie jar. Raises AuthenticationFailed, Unreachable or
    UsageError.
    """
    scope = discovery.challenge_scope if scope is None else scope
    redirect_uri = _loopback_redirect_uri()
    client_id = register(
        client,
        discovery,
        redirect_uri=redirect_uri,
        scope=scope,
        client_name=client_name,
        step=step,
    )
    request = authorization_request(
        discovery.metadata["authorization_endpoint"],
        client_id=client_id,
        redirect_uri=redirect_uri,
        scope=scope,
        resource=discovery.resource,
    )
    with httpx2.Client(timeout=client.timeout) as web:
        approval = approve_in_browser(
            web,
            request.url,
            redirect_uri=redirect_uri,
            username=username,
            password=password,
            tenant=tenant,
            step=step,
        )
    code = code_from_redirect(approval.callback, request, issuer=discovery.issuer)
    step("redirect -> code, state matches, iss matches the issuer")
    return Code(discovery, request, code)


def verified_claims(
    client: httpx2.Client, discovery: Discovery, access_token: str
) -> dict[str, Any]:
    """Verify the JWT against the published JWKS; return its claims.

    Checks the signature, `iss` (the issuer) and `aud` (the resource).
    Raises AuthenticationFailed.
    """
    jwks_uri = discovery.metadata.get("jwks_uri")
    if not jwks_uri:
        raise AuthenticationFailed("the metadata has no jwks_uri to verify tokens")
    try:
        header = jwt.get_unverified_header(access_token)
        keys = _json(_send(client, "GET", jwks_uri), "the JWKS").get("keys", [])
        key = next((k for k in keys if k.get("kid") == header.get("kid")), None)
        if key is None:
            raise AuthenticationFailed(
                f"the token's kid {header.get('kid')!r} is not in the JWKS"
            )
        return jwt.decode(
            access_token,
            jwt.PyJWK(key).key,
            algorithms=[key.get("alg", header.get("alg", "RS256"))],
            audience=discovery.resource,
            issuer=discovery.issuer,
        )
    except jwt.PyJWTError as exc:
        raise AuthenticationFailed(f"the access token does not verify: {exc}") from None


def _token_request(
    client: httpx2.Client,
    discovery: Discovery,
    client_id: str,
    data: dict[str, str],
    step: Step,
) -> Grant:
    endpoint = discovery.metadata["token_endpoint"]
    response = _send(client, "POST", endpoint, data=data)
    if response.status_code != 200:
        raise _oauth_error(response, "the token endpoint")
    body = _json(response, "the token endpoint")
    access_token = body.get("access_token")
    if not access_token:
        raise AuthenticationFailed("the token response has no access_token")
    claims = verified_claims(client, discovery, access_token)
    grant = Grant(
        access_token=access_token,
        refresh_token=body.get("refresh_token"),
        scopes=str(body.get("scope", claims.get("scope", ""))).split(),
        expires_in=body.get("expires_in"),
        client_id=client_id,
        claims=claims,
        discovery=discovery,
    )
    step(
        f"POST {endpoint} ({data['grant_type']}) -> JWT verified against the JWKS: "
        f"sub {claims.get('sub')}, tenant {grant.tenant}, scope "
        f"{' '.join(grant.scopes) or '(none)'}, expires in {grant.expires_in} s"
        + (", refresh token" if grant.refresh_token else "")
    )
    return grant


def redeem(client: httpx2.Client, code: Code, *, step: Step = _quiet) -> Grant:
    """Step 7: redeem `code` with its verifier; return the verified grant.

    Raises AuthenticationFailed (an OAuth error, or a token that does not
    verify against the JWKS) or Unreachable.
    """
    return _token_request(
        client, code.discovery, code.request.client_id, code.token_form(), step
    )


def sign_in(
    mcp_url: str,
    *,
    username: str,
    password: str,
    tenant: str | None = None,
    scope: str | None = None,
    step: Step = _quiet,
    timeout: float = 20.0,
) -> Grant:
    """Run the whole flow for `username` and return the verified grant.

    `scope` defaults to what the server's 401 challenge asks for. `tenant`
    must be one of the user's tenants (required when they have several).
    Raises AuthenticationFailed, Unreachable or UsageError.
    """
    with httpx2.Client(timeout=timeout) as client:
        discovery = discover(client, mcp_url, step)
        code = authorize(
            client,
            discovery,
            username=username,
            password=password,
            tenant=tenant,
            scope=scope,
            step=step,
        )
        return redeem(client, code, step=step)


def refresh(grant: Grant, *, step: Step = _quiet, timeout: float = 20.0) -> Grant:
    """Redeem `grant`'s refresh token for a new (rotated) grant."""
    if not grant.refresh_token:
        raise AuthenticationFailed("the grant has no refresh token")
    with httpx2.Client(timeout=timeout) as client:
        return _token_request(
            client,
            grant.discovery,
            grant.client_id,
            refresh_form(
                client_id=grant.client_id,
                refresh_token=grant.refresh_token,
                resource=grant.discovery.resource,
            ),
            step,
        )

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
   loopback redirect URI, or a registration from an earlier run (given
   a `RegistrationCache`, one per issuer and user; one the server no
   longer knows is replaced once, transparently);
5. /authorize with PKCE S256, `state` and `resource` (RFC 8707); the login
   form with its CSRF token; the tenant chooser when the user has several
   tenants; the consent form;
6. the redirect: `state` must round-trip and `iss` must be the issuer
   (RFC 9207);
7. /token redeems the code with the verifier; the JWT is verified against
   the published JWKS (signature, `iss`, `aud` = the resource).

Nothing here knows the server's internals: only URLs it advertises and the
pages it serves. Each step reports a line through `step`.

This is the project's one hand-written OAuth client. This module only
composes its steps, which live in modules of their own so that every other
client composes them instead of repeating them: harness/discovery.py
(steps 1-3, `discover`), harness/registration.py (step 4, `register`;
its cache is harness/registration_cache.py),
harness/authorization.py (the pure pieces Django's in-process test client
also uses: `authorization_request`, `AuthorizationRequest.token_form`,
`query_params`; and step 6, `code_from_redirect`), harness/consent_walk.py
(step 5, `approve_in_browser`, a stand-in browser given any client's
authorize URL) and harness/tokens.py (step 7, `redeem`, `refresh`,
`refresh_form`, `verified_claims`). Here: `authorize` (steps 4-6, up to a
code) and `sign_in` (all of them).
"""

import httpx2

from harness.authorization import Code, authorization_request, code_from_redirect
from harness.consent_walk import approve_in_browser
from harness.discovery import CLIENT_NAME, Discovery, discover
from harness.errors import UnknownClient
from harness.exchange import Step, quiet
from harness.registration import Registration, register_loopback
from harness.registration_cache import RegistrationCache
from harness.tokens import Grant, redeem


def authorize(
    client: httpx2.Client,
    discovery: Discovery,
    *,
    username: str,
    password: str,
    tenant: str | None = None,
    scope: str | None = None,
    client_name: str = CLIENT_NAME,
    registration: Registration | None = None,
    step: Step = quiet,
) -> Code:
    """Steps 4-6: register, sign in and consent as `username`; return the code.

    `scope` defaults to what the 401 challenge asked for. With a
    `registration`, uses it instead of registering. The browser gets its
    own cookie jar. Raises AuthenticationFailed (UnknownClient when the
    server refuses the client_id), Unreachable or UsageError.
    """
    scope = discovery.challenge_scope if scope is None else scope
    if registration is None:
        registration = register_loopback(
            client, discovery, scope=scope, client_name=client_name, step=step
        )
    request = authorization_request(
        discovery.metadata["authorization_endpoint"],
        client_id=registration.client_id,
        redirect_uri=registration.redirect_uri,
        scope=scope,
        resource=discovery.resource,
    )
    with httpx2.Client(timeout=client.timeout) as web:
        approval = approve_in_browser(
            web,
            request.url,
            redirect_uri=registration.redirect_uri,
            username=username,
            password=password,
            tenant=tenant,
            step=step,
        )
    code = code_from_redirect(approval.callback, request, issuer=discovery.issuer)
    step("redirect -> code, state matches, iss matches the issuer")
    return Code(discovery, request, code)


def sign_in(
    mcp_url: str,
    *,
    username: str,
    password: str,
    tenant: str | None = None,
    scope: str | None = None,
    step: Step = quiet,
    timeout: float = 20.0,
    registrations: RegistrationCache | None = None,
) -> Grant:
    """Run the whole flow for `username` and return the verified grant.

    `scope` defaults to what the server's 401 challenge asks for. `tenant`
    must be one of the user's tenants (required when they have several).
    Without `registrations`, registers a new client; with them, reuses the
    one cached for the issuer and `username`, and registers (and caches) a
    new one when there is none or the server refuses the cached one.
    Raises AuthenticationFailed, Unreachable or UsageError.
    """
    with httpx2.Client(timeout=timeout) as client:
        discovery = discover(client, mcp_url, step)

        def grant(registration: Registration | None) -> Grant:
            code = authorize(
                client,
                discovery,
                username=username,
                password=password,
                tenant=tenant,
                scope=scope,
                registration=registration,
                step=step,
            )
            return redeem(client, code, step=step)

        if registrations is None:
            return grant(None)
        cached = registrations.get(discovery.issuer, username)
        if cached is not None:
            step(
                f"reusing client_id {cached.client_id} ({cached.redirect_uri}) "
                f"from {registrations.path}"
            )
            try:
                return grant(cached)
            except UnknownClient as refusal:
                registrations.drop(discovery.issuer, username)
                step(
                    f"{discovery.issuer} no longer knows client_id "
                    f"{cached.client_id} ({refusal.reason}): registering again"
                )
        registration = register_loopback(
            client,
            discovery,
            scope=discovery.challenge_scope if scope is None else scope,
            step=step,
        )
        registrations.put(discovery.issuer, username, registration)
        return grant(registration)

"""Drive the authorization-code flow through Django's test client.

The requests are the terminal client's (harness/authorization.py's
`authorization_request` for PKCE S256, `state` and `resource`, and its
token form; harness/tokens.py's refresh form) and the pages are read with
harness/pages.py, as over HTTP. Only the transport differs: these
helpers hand back the test client's responses, so that tests can assert on
what the server answered, refusals included.
"""

import json
from http import HTTPStatus

from django.conf import settings
from django.http import HttpResponse
from django.test import Client

from harness.authorization import (
    AuthorizationRequest,
    authorization_request,
    query_params,
)
from harness.pages import Form, parse_page
from harness.tokens import refresh_form

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


def register(client: Client, **overrides: object) -> dict:
    """Register Claude Code's public client (with `overrides`); assert 201."""
    body = {**CLAUDE_CODE_REGISTRATION, **overrides}
    response = client.post(
        "/register", json.dumps(body), content_type="application/json"
    )
    assert response.status_code == HTTPStatus.CREATED, response.content
    return response.json()


def start(
    client_id: str,
    *,
    scope: str = "tools:call",
    redirect_uri: str = REDIRECT_URI,
    resource: str | None = None,
    method: str = "S256",
    **extra: str,
) -> AuthorizationRequest:
    """An authorization request for `client_id`; its `url` is a path.

    `resource` defaults to the MCP resource. Any `method` but S256 sends the
    verifier itself as the challenge, so that refusals of it can be tested.
    """
    auth = authorization_request(
        "/authorize",
        client_id=client_id,
        redirect_uri=redirect_uri,
        scope=scope,
        resource=settings.MCP_RESOURCE_URL if resource is None else resource,
        **extra,
    )
    if method != "S256":
        auth.query.update(code_challenge=auth.verifier, code_challenge_method=method)
    return auth


def redirect_params(response: HttpResponse) -> dict[str, str]:
    """The query of a 302's Location; assert it is a 302."""
    assert response.status_code == HTTPStatus.FOUND, response.content[:500]
    return query_params(response["Location"])


def _form_with(response: HttpResponse, field_name: str) -> Form | None:
    return parse_page(response.text).form_with(field_name)


def consent(
    client: Client,
    auth: AuthorizationRequest,
    *,
    allow: bool = True,
    tenant: str | None = None,
) -> tuple[HttpResponse, HttpResponse]:
    """GET the consent page (choosing `tenant` if asked), press Allow or Deny.

    Returns the consent page and the answer to its form, each as the test
    client got it (the forms have no action: they post back to the page).
    """
    page = client.get(auth.url)
    assert page.status_code == HTTPStatus.OK, page.content[:500]
    chooser = _form_with(page, "choose_tenant")
    if chooser is not None:
        assert tenant is not None, "a tenant choice was asked for"
        chosen = client.post(auth.url, chooser.submission(choose_tenant=tenant))
        assert chosen.status_code == HTTPStatus.FOUND
        page = client.get(auth.url)
        assert page.status_code == HTTPStatus.OK, page.content[:500]
    form = _form_with(page, "deny")
    assert form is not None, f"no consent form: {page.content[:500]!r}"
    button = {"allow": "Authorize"} if allow else {"deny": "1"}
    return page, client.post(auth.url, form.submission(**button))


def authorize_code(
    client: Client,
    auth: AuthorizationRequest,
    *,
    allow: bool = True,
    tenant: str | None = None,
) -> dict[str, str]:
    """Consent (see `consent`) and return the redirect's parameters."""
    _page, response = consent(client, auth, allow=allow, tenant=tenant)
    return redirect_params(response)


def exchange(
    client: Client, auth: AuthorizationRequest, code: str, **extra: str
) -> HttpResponse:
    """POST /token to redeem `code`; `extra` fields override the form's."""
    return client.post("/token", {**auth.token_form(code), **extra})


def refresh(
    client: Client, client_id: str, refresh_token: str, **extra: str
) -> HttpResponse:
    """POST /token with the refresh grant; `extra` fields are added."""
    return client.post(
        "/token",
        {**refresh_form(client_id=client_id, refresh_token=refresh_token), **extra},
    )

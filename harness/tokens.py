"""Step 7 of the flow and after: tokens from /token, verified.

`redeem` trades a `Code` for a `Grant` and `refresh` a grant's refresh
token for a new one; every access token is checked by `verified_claims`
against the published JWKS (signature, `iss` = the issuer, `aud` = the
resource) before it is handed back. `refresh_form` is the pure /token form
of a refresh, for Django's in-process test client too.
"""

from dataclasses import dataclass
from typing import Any

import httpx2
import jwt

from harness.authorization import Code
from harness.discovery import Discovery
from harness.errors import AuthenticationFailed
from harness.exchange import Step, json_object, oauth_error, quiet, send


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
        keys = json_object(send(client, "GET", jwks_uri), "the JWKS").get("keys", [])
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
    response = send(client, "POST", endpoint, data=data)
    if response.status_code != 200:
        raise oauth_error(response, "the token endpoint")
    body = json_object(response, "the token endpoint")
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


def redeem(client: httpx2.Client, code: Code, *, step: Step = quiet) -> Grant:
    """Step 7: redeem `code` with its verifier; return the verified grant.

    Raises AuthenticationFailed (an OAuth error, or a token that does not
    verify against the JWKS) or Unreachable.
    """
    return _token_request(
        client, code.discovery, code.request.client_id, code.token_form(), step
    )


def refresh(grant: Grant, *, step: Step = quiet, timeout: float = 20.0) -> Grant:
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

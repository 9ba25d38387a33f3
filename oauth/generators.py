"""The ACCESS_TOKEN_GENERATOR: RFC 9068 JWTs for the MCP resource.

DOT calls this with the oauthlib request after the grant was validated and
before the token rows are stored. Scopes are narrowed here to what the
membership entitles *now*, and `request.scopes` is updated so the stored
row and the response's `scope` say the same as the JWT.
"""

from oauthlib.common import Request
from oauthlib.oauth2.rfc6749 import errors

from oauth.token_context import MINTED_KEY, token_context
from oauth.tokens import mint_access_token


def signed_access_token(request: Request) -> str:
    """Return the signed JWT for this issuance; fail closed without a context."""
    context = token_context(request)
    if context is None or request.user is None or request.client is None:
        raise errors.InvalidGrantError(request=request)
    granted = sorted(set(request.scopes or []) & context.entitled)
    if not granted:
        raise errors.InvalidScopeError(
            description="No requested scope is granted to this user in this tenant.",
            request=request,
        )
    request.scopes = granted
    minted = mint_access_token(
        user_id=request.user.pk,
        client_id=request.client.client_id,
        scopes=granted,
        tenant_id=context.tenant_id,
        tenant_slug=context.tenant_slug,
        audience=context.audience,
        lifetime=int(request.expires_in),
    )
    vars(request)[MINTED_KEY] = minted.claims
    return minted.token

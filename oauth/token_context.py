"""What a token issuance may grant, handed from the validator to the generator.

The validator (oauth/validators.py) settles, while it validates a grant,
the consent record, tenant, entitled scopes and audience of the tokens to
issue, and attaches them to oauthlib's Request as a `TokenContext`; the
access-token generator (oauth/generators.py) mints from that context alone
and attaches the claims it minted (`MINTED_KEY`) for the validator to
record when the token is saved.

Both are stored with `vars(request)[...]` and read the same way: oauthlib's
Request serves any client parameter as an attribute, so a plain attribute
read could be answered by the client.
"""

from dataclasses import dataclass

from oauthlib.common import Request

from oauth.models import AuthorizationRecord
from tenants.entitlements import entitled_scopes, get_active_membership

CONTEXT_KEY = "mcp_token_context"
MINTED_KEY = "mcp_minted_claims"


@dataclass(frozen=True)
class TokenContext:
    """What a token issuance may grant: set only by the validator."""

    record_id: int
    tenant_id: int
    tenant_slug: str
    entitled: frozenset[str]
    audience: str


def token_context(request: Request) -> TokenContext | None:
    """The trusted context a validator step attached to `request`, if any."""
    value = vars(request).get(CONTEXT_KEY)
    return value if isinstance(value, TokenContext) else None


def context_for(record: AuthorizationRecord, *, audience: str) -> TokenContext | None:
    """The context of a consent record's issuance for `audience`; None when
    its user is no longer an active member of its tenant."""
    membership = get_active_membership(
        user_id=record.user_id, tenant_id=record.tenant_id
    )
    if membership is None:
        return None
    return TokenContext(
        record_id=record.pk,
        tenant_id=record.tenant_id,
        tenant_slug=membership.tenant.slug,
        entitled=entitled_scopes(membership.role),
        audience=audience,
    )

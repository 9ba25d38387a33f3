"""Stage 3, admission: may this principal's tenant use the server right now?

This is where per-tenant and per-client limits sit (token buckets in the
shared cache, answered 429 with Retry-After and audited): the issue on
quotas builds them here. Until then every authenticated request is
admitted.
"""

from mcpserver.auth import Principal
from mcpserver.pipeline.inbound import Inbound


class Admission:
    """Admits or refuses (raising Refusal) an authenticated request."""

    async def admit(self, principal: Principal, inbound: Inbound) -> None:
        """Return to admit the request; raise Refusal to refuse it."""
        return None

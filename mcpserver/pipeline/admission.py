"""Stage 3, admission: may this principal's client use the server right now?

Every authenticated /mcp request (any method) takes a token from its
tenant's bucket and from its client's bucket inside it (mcpserver/quotas.py:
Redis when Django's cache is Redis, else per process). The limits are the
tenant's own (admin, read with its tool policy snapshot) or the server's
defaults; a tenant with neither is not limited and costs no round trip.

A database that does not answer (the quota is read with the tenant's
policy snapshot) is a 503 with Retry-After, as in the other stages.

Over the limit: HTTP 429 with `Retry-After` (whole seconds) and a JSON-RPC
error with the request's `id` (null for a notification or a GET), code
RATE_LIMITED, `data.retry_after` and `data.limit` ("tenant" or "client").
The refusal is audited as `tool_denied`, reason `rate_limited`, coalesced
to one row per tenant/client per second (mcpserver/refusal_log.py).
Discovery, metadata and JWKS are Django's and never reach this stage; nor
does a request without a valid token (authentication refused it).
"""

import logging

import mcp_types as types

from mcpserver import metrics
from mcpserver.auth import Principal
from mcpserver.db import DatabaseUnavailable
from mcpserver.pipeline.inbound import Inbound, request_id_of
from mcpserver.pipeline.refusal import Refusal, rpc_error, unavailable
from mcpserver.policy import aget_tool_policy
from mcpserver.quota_buckets import Limits
from mcpserver.quotas import (
    QuotaDefaults,
    QuotaLimiter,
    QuotaStatus,
    retry_after_header,
)
from mcpserver.refusal_log import CoalescedRefusals
from tenants.selectors import TenantQuota

logger = logging.getLogger(__name__)

RATE_LIMITED = -32005
"""JSON-RPC error code of a request refused by a quota (HTTP 429); in the
range JSON-RPC leaves to implementations."""


class Admission:
    """Admits or refuses (raising Refusal) an authenticated request.

    Built once per server lifespan; without a limiter it admits everything.
    """

    def __init__(
        self,
        limiter: QuotaLimiter | None = None,
        refusals: CoalescedRefusals | None = None,
        defaults: QuotaDefaults | None = None,
    ) -> None:
        self.limiter = limiter
        self.refusals = refusals
        self.defaults = defaults or QuotaDefaults()

    async def admit(self, principal: Principal, inbound: Inbound) -> None:
        """Return to admit the request; raise Refusal to refuse it.

        429 over the quota (after the refusal is counted, and its audit row
        committed when it is the first in its second); 503 when the
        tenant's quota cannot be read because the database does not answer.
        """
        if self.limiter is None:
            return
        message = inbound.message
        request_id = request_id_of(message) if message is not None else None
        limits = await self._limits(principal.tenant_id, request_id)
        if limits is None:
            return
        verdict = await self.limiter.take(
            principal.tenant_id, principal.client_id, limits
        )
        if verdict.admitted:
            return
        call = inbound.tool_call
        metrics.count_quota_refusal(principal, verdict.limit)
        if call is not None:
            metrics.count_tool_call(principal, call.name, metrics.RATE_LIMITED)
        if self.refusals is not None:
            await self.refusals.refused(
                principal,
                limit=verdict.limit,
                method=str(message.get("method", "")) if message else inbound.method,
                tool=call.name if call is not None else "",
                request_id="" if request_id is None else str(request_id),
            )
        retry_after = retry_after_header(verdict.retry_after)
        error = types.ErrorData(
            code=RATE_LIMITED,
            message=f"Rate limited: retry after {retry_after} s",
            data={"retry_after": int(retry_after), "limit": verdict.limit},
        )
        raise Refusal(429, rpc_error(request_id, error), [("retry-after", retry_after)])

    def status(self) -> QuotaStatus | None:
        """Where the counters live (None when this admission has no limiter)."""
        return self.limiter.status() if self.limiter is not None else None

    async def _limits(
        self, tenant_id: int, request_id: str | int | None
    ) -> Limits | None:
        try:
            policy = await aget_tool_policy(tenant_id)
        except DatabaseUnavailable:
            raise unavailable(request_id, "the tenant's quota cannot be read") from None
        except Exception:
            # The tenant's own quota is unknown: hold it to the default. A
            # call goes on to the decision, which fails closed on its own.
            logger.warning("Reading tenant %s's quota failed", tenant_id)
            return self.defaults.limits(TenantQuota())
        return self.defaults.limits(policy.quota)

"""The one decision: may this principal call this tool? (DESIGN invariant 1)

`tools/list`, `tools/call` (including the step-up answer before dispatch)
and the audit record all use `decide`; nothing else knows policy.

- A tool that does not exist (not in the catalogue or not implemented) and a
  tool the principal's tenant does not have (no enabled TenantTool) are
  both refused and must read the same to the caller: `Decision.hidden`.
- A tool the tenant has but whose scopes the token lacks is refused with
  `missing_scopes` and `required_scopes` (every scope the call needs), so
  the client can step up.
"""

import time
from dataclasses import dataclass

from django.conf import settings

from mcpserver.aio import SharedTask
from mcpserver.auth import Principal
from mcpserver.db import run_db
from mcpserver.tools import TOOLS
from tenants.selectors import ToolPolicy, get_tool_policy

ALLOWED = "allowed"
UNKNOWN_TOOL = "unknown_tool"
TOOL_NOT_ENABLED = "tool_not_enabled"
MISSING_SCOPE = "missing_scope"


@dataclass(frozen=True)
class Decision:
    """The answer for one principal and one tool.

    `reason` is one of ALLOWED, UNKNOWN_TOOL, TOOL_NOT_ENABLED and
    MISSING_SCOPE. `required_scopes` is empty for a hidden tool.
    """

    allowed: bool
    reason: str
    missing_scopes: frozenset[str]
    required_scopes: frozenset[str]

    @property
    def hidden(self) -> bool:
        """The caller must not learn that the tool exists."""
        return self.reason in (UNKNOWN_TOOL, TOOL_NOT_ENABLED)

    @property
    def audit_reason(self) -> str:
        if self.missing_scopes:
            return f"{self.reason}: needs {' '.join(sorted(self.missing_scopes))}"
        return self.reason


def decide(
    principal: Principal, tool_name: str, *, policy: ToolPolicy | None = None
) -> Decision:
    """Decide whether `principal` may call `tool_name`.

    `policy` is the principal's tenant's policy (a snapshot from
    `aget_tool_policy`); without it the policy is read from the database
    (sync callers only). Raises ValueError for another tenant's policy.
    """
    if policy is None:
        policy = get_tool_policy(tenant_id=principal.tenant_id)
    if policy.tenant_id != principal.tenant_id:
        raise ValueError("decide() needs the principal's own tenant policy")
    if tool_name not in TOOLS or tool_name not in policy.catalogue:
        return Decision(False, UNKNOWN_TOOL, frozenset(), frozenset())
    required = policy.required_scopes.get(tool_name)
    if required is None:
        return Decision(False, TOOL_NOT_ENABLED, frozenset(), frozenset())
    missing = required - principal.scopes
    if missing:
        return Decision(False, MISSING_SCOPE, missing, required)
    return Decision(True, ALLOWED, frozenset(), required)


_cache: dict[int, tuple[float, ToolPolicy]] = {}
_reads: dict[int, SharedTask] = {}


async def aget_tool_policy(tenant_id: int) -> ToolPolicy:
    """Return `tenant_id`'s policy, reused for MCP_POLICY_CACHE_SECONDS.

    An admin change to a tenant's tools therefore applies within that time
    in every process. Concurrent misses for one tenant share one query and
    its outcome: if the database does not answer, they all get
    DatabaseUnavailable after one MCP_DB_TIMEOUT_SECONDS wait, rather than
    taking turns at it. A policy past its reuse time is never served.
    """
    cached = _cache.get(tenant_id)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]

    async def read() -> ToolPolicy:
        policy = await run_db(get_tool_policy, tenant_id=tenant_id)
        _cache[tenant_id] = (
            time.monotonic() + settings.MCP_POLICY_CACHE_SECONDS,
            policy,
        )
        return policy

    return await _reads.setdefault(tenant_id, SharedTask()).join(read)


async def adecide(principal: Principal, tool_name: str) -> Decision:
    """`decide` with the cached policy of the principal's tenant."""
    policy = await aget_tool_policy(principal.tenant_id)
    return decide(principal, tool_name, policy=policy)


def clear_policy_cache() -> None:
    """Forget every cached policy (the next call reads the database)."""
    _cache.clear()

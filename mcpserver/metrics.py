"""Metrics of the MCP server: tool calls, their duration, quota refusals.

Label values are bounded by what the server knows, never by what a client
sends: `tool` is a name of the server's tools (mcpserver/tools.py, the code
behind the catalogue's names) or "unknown"; `tenant` is the principal's
tenant slug, from a token this server verified (the issuer writes it from
the tenant's row), or the tenant's id when the token carries no slug;
`outcome` and `limit` are fixed words. Children are cached per label set
(bounded by the same sets), which spares prometheus_client's label lookup
on the hot path.

prometheus_client is in multiprocess mode (config/metrics_dir.py): each
value lives in this process's file of the node's directory, and /metrics
adds up every worker's.
"""

from prometheus_client import Counter, Histogram

from mcpserver.auth import Principal
from mcpserver.tools import TOOLS

OK = "ok"
ERROR = "error"
DENIED = "denied"
RATE_LIMITED = "rate_limited"
UNAVAILABLE = "unavailable"
UNKNOWN_TOOL = "unknown"

DURATION_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    10.0,
)  # fmt: skip

TOOL_CALLS = Counter(
    "mcp_tool_calls",
    "tools/call requests by tenant, tool and outcome (ok, error, denied, "
    "rate_limited, unavailable).",
    ["tenant", "tool", "outcome"],
)
TOOL_CALL_SECONDS = Histogram(
    "mcp_tool_call_duration_seconds",
    "Time from a call's validation to its audited result, for calls that ran "
    "(seconds).",
    ["tool"],
    buckets=DURATION_BUCKETS,
)
QUOTA_REFUSALS = Counter(
    "mcp_quota_refusals",
    "Authenticated /mcp requests refused (429) by a quota, by tenant and "
    "bucket (tenant or client).",
    ["tenant", "limit"],
)

_calls: dict[tuple[str, str, str], Counter] = {}
_durations: dict[str, Histogram] = {}


def tool_label(name: str) -> str:
    """`name` if it is one of the server's tools, else "unknown"."""
    return name if name in TOOLS else UNKNOWN_TOOL


def tenant_label(principal: Principal) -> str:
    """The tenant's slug from the verified token, or its id without one."""
    return principal.tenant_slug or str(principal.tenant_id)


def count_tool_call(principal: Principal, tool: str, outcome: str) -> None:
    """Count one `tools/call` of `tool` (a raw name) that ended in `outcome`."""
    key = (tenant_label(principal), tool_label(tool), outcome)
    child = _calls.get(key)
    if child is None:
        child = _calls[key] = TOOL_CALLS.labels(*key)
    child.inc()


def observe_tool_call(tool: str, seconds: float) -> None:
    """Record how long a call of `tool` that ran took."""
    label = tool_label(tool)
    child = _durations.get(label)
    if child is None:
        child = _durations[label] = TOOL_CALL_SECONDS.labels(label)
    child.observe(seconds)


def count_quota_refusal(principal: Principal, limit: str) -> None:
    """Count one request refused by the quota of bucket `limit`."""
    QUOTA_REFUSALS.labels(tenant_label(principal), limit or "tenant").inc()

"""Settings of the MCP resource server: transport, caches, readiness, quotas.

Imported by config/settings.py (which has already loaded `.env` into the
environment), as config/resource_server_settings.py is; every name here is
a Django setting and is read as `settings.NAME`.
"""

import environ
from django.core.exceptions import ImproperlyConfigured

env = environ.Env()

# Stateless JSON by default so any worker serves any request; true turns on
# MCP sessions and SSE (a session lives in the memory of the process that
# opened it; a load balancer keeps it there by Mcp-Session-Id).
MCP_SESSIONS = env.bool("MCP_SESSIONS", default=False)
# Session mode's SSE resumption (Last-Event-ID, mcpserver/event_store.py):
# the Redis that keeps each session's events ("" = the Redis of CACHE_URL
# when that is Redis, else this process's memory), how long an event is
# kept (seconds), how many events each stream keeps at most, and the bound
# on one Redis round trip (past it, events go unstored: no resumption).
MCP_EVENT_STORE_URL = env.str("MCP_EVENT_STORE_URL", default="")
MCP_EVENT_TTL_SECONDS = env.float("MCP_EVENT_TTL_SECONDS", default=300.0)
MCP_EVENT_STREAM_MAX = env.int("MCP_EVENT_STREAM_MAX", default=1000)
MCP_EVENT_STORE_TIMEOUT = env.float("MCP_EVENT_STORE_TIMEOUT", default=0.2)
MCP_MAX_BODY_BYTES = env.int("MCP_MAX_BODY_BYTES", default=1024 * 1024)
# Stateless tools/call (handshake-era, JSON) is answered by
# mcpserver/fastpath.py without the SDK's per-request transport machinery;
# false sends every request through the SDK.
MCP_FAST_TOOLS_CALL = env.bool("MCP_FAST_TOOLS_CALL", default=True)
# How often each process reads the revocation feed (seconds).
MCP_REVOCATION_POLL_SECONDS = env.float("MCP_REVOCATION_POLL_SECONDS", default=0.5)
# `manage.py migrate` also runs `sync_tools` (the registered @tools into the
# catalogue); false leaves that to a separate `manage.py sync_tools` step.
MCP_SYNC_TOOLS_ON_MIGRATE = env.bool("MCP_SYNC_TOOLS_ON_MIGRATE", default=True)
# How long each process may reuse a tenant's tool policy (seconds).
MCP_POLICY_CACHE_SECONDS = env.float("MCP_POLICY_CACHE_SECONDS", default=0.5)
# Threads per process for the MCP app's database work; keep it at or below
# DATABASE_POOL_MAX_SIZE minus 2 (the audit writer thread and Django's own
# thread hold one each) so a thread never waits for a pooled connection.
MCP_DB_THREADS = env.int("MCP_DB_THREADS", default=8)
# /readyz bounds (config/readiness.py): the audit writer's backlog (events
# handed over and not yet committed) and its oldest event's age (seconds),
# and the age of the last good revocation poll of a combined server.
MCP_READY_AUDIT_MAX_QUEUE = env.int("MCP_READY_AUDIT_MAX_QUEUE", default=1024)
MCP_READY_AUDIT_MAX_AGE_SECONDS = env.float(
    "MCP_READY_AUDIT_MAX_AGE_SECONDS", default=5.0
)
MCP_READY_REVOCATION_MAX_AGE_SECONDS = env.float(
    "MCP_READY_REVOCATION_MAX_AGE_SECONDS", default=5.0
)
# After SIGTERM, how long the process keeps serving while /readyz answers
# 503, before uvicorn stops accepting (config/shutdown.py). At least the
# load balancer's check interval times its failure count.
MCP_SHUTDOWN_DRAIN_SECONDS = env.float("MCP_SHUTDOWN_DRAIN_SECONDS", default=3.0)
# Per-tenant quotas on authenticated /mcp requests (mcpserver/quotas.py): a
# token bucket per tenant, refilled at MCP_TENANT_RATE requests/s and
# holding MCP_TENANT_BURST (0: one second's worth), and inside it one per
# client holding MCP_CLIENT_SHARE percent of both. A tenant's own values
# (admin) win; 0 here means tenants without their own rate are not limited.
MCP_TENANT_RATE = env.float("MCP_TENANT_RATE", default=0)
MCP_TENANT_BURST = env.int("MCP_TENANT_BURST", default=0)
MCP_CLIENT_SHARE = env.int("MCP_CLIENT_SHARE", default=50)
# Bound on one quota round trip to Redis; past it (or on any Redis error)
# the process counts in its own buckets until Redis answers again.
MCP_QUOTA_REDIS_TIMEOUT = env.float("MCP_QUOTA_REDIS_TIMEOUT", default=0.2)

# On PostgreSQL, tool-call audit batches are sent from the event loop on a
# psycopg AsyncConnection (audit/writer_pg_async.py); false keeps the
# writer thread of SQLite (audit/writer.py): for benchmarks, and as a
# safety valve. Read once, when the writer is made.
MCP_AUDIT_PG_ASYNC = env.bool("MCP_AUDIT_PG_ASYNC", default=True)
# Rounds of the event loop that writer lets run before its next batch when
# the node is busy, so more calls share a commit; an idle loop runs them at
# once, so a lone call never waits. 0 never lingers. Measured in README
# "Running a cluster".
MCP_AUDIT_PG_LINGER_ROUNDS = env.int("MCP_AUDIT_PG_LINGER_ROUNDS", default=4)

# Benchmarks only: false skips the audit row of each tool call, to measure
# what auditing costs. It takes MCP_BENCHMARK=true as well, so no server
# runs without its audit log by a single stray variable.
MCP_BENCHMARK = env.bool("MCP_BENCHMARK", default=False)
MCP_AUDIT_TOOL_CALLS = env.bool("MCP_AUDIT_TOOL_CALLS", default=True)
if not MCP_AUDIT_TOOL_CALLS and not MCP_BENCHMARK:
    raise ImproperlyConfigured(
        "MCP_AUDIT_TOOL_CALLS=false is for benchmarks only: it needs "
        "MCP_BENCHMARK=true too."
    )

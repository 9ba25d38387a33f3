"""Many audit rows at once on PostgreSQL, past the triggers rather than around them.

One `INSERT ... SELECT generate_series` fills `rows` rows spread over
`chains` chains. Each row extends its chain's head exactly as the
chain-head trigger demands (sequence = head + 1, prev_hash = head hash), so
no trigger is dropped; the hashes are placeholders (`lpad(to_hex(seq))`),
so `audit_verify` rightly reports these chains as tampered. Many short
chains keep each head row's update chain short within the one transaction.
Used by the index tests (tests/audit/test_admin_indexes.py) and
scripts/bench_audit_admin.py.
"""

from datetime import datetime, timedelta

from django.db import connection, transaction

_CHAINS = """
INSERT INTO audit_auditchain (chain_id, last_sequence, last_hash, created_at)
SELECT %(prefix)s || c, 0, repeat('0', 64), now()
  FROM generate_series(0, %(chains)s - 1) AS c
"""

_EVENTS = """
INSERT INTO audit_auditevent (
    occurred_at, event, outcome, tenant_id, user_id, client_id, tool,
    arguments, reason, request_id, duration_ms,
    chain_id, sequence, prev_hash, hash)
SELECT
    %(newest)s - (g::bigint * %(spacing_us)s::bigint) * interval '1 microsecond',
    CASE WHEN g %% 100 < 85 THEN 'tool_called'
         WHEN g %% 100 < 93 THEN 'tool_denied'
         WHEN g %% 100 < 98 THEN 'tool_failed'
         ELSE 'token_issued' END,
    CASE WHEN g %% 100 < 85 THEN 'ok'
         WHEN g %% 100 < 93 THEN 'denied'
         WHEN g %% 100 < 98 THEN 'error'
         ELSE 'ok' END,
    (%(tenants)s::bigint[])[1 + (g / 7) %% %(pairs)s],
    (%(users)s::bigint[])[1 + (g / 7) %% %(pairs)s],
    (%(clients)s::text[])[1 + (g / 3) %% %(client_count)s],
    (%(tools)s::text[])[1 + g %% %(tool_count)s],
    jsonb_build_object('message', 'm' || g),
    CASE WHEN g %% 100 < 85 THEN ''
         WHEN g %% 100 < 93 THEN 'missing_scope: needs admin'
         WHEN g %% 100 < 98 THEN 'invalid params: message: not a string'
         ELSE 'scope=tools:call' END,
    %(request_prefix)s || g,
    (g %% 50)::float / 10,
    %(prefix)s || (g %% %(chains)s),
    g / %(chains)s + 1,
    lpad(to_hex(g / %(chains)s), 64, '0'),
    lpad(to_hex(g / %(chains)s + 1), 64, '0')
  FROM generate_series(0, %(rows)s - 1) AS g
 ORDER BY g
"""


def insert_synthetic_events(
    *,
    rows: int,
    members: list[tuple[int, int]],
    clients: list[str],
    tools: list[str],
    newest: datetime,
    span: timedelta,
    chains: int = 10_000,
    prefix: str = "synthetic:",
) -> None:
    """Append `rows` events, newest first from `newest` back over `span`.

    `members` are the (tenant id, user id) pairs the rows cycle through,
    `clients` the client ids, `tools` the tool names. PostgreSQL only.
    """
    if connection.vendor != "postgresql":
        raise NotImplementedError("generate_series fills need PostgreSQL")
    chains = max(1, min(chains, rows))
    params = {
        "rows": rows,
        "chains": chains,
        "prefix": prefix,
        "newest": newest,
        "spacing_us": max(1, int(span / timedelta(microseconds=1)) // rows),
        "tenants": [tenant for tenant, _ in members],
        "users": [user for _, user in members],
        "pairs": len(members),
        "clients": clients,
        "client_count": len(clients),
        "tools": tools,
        "tool_count": len(tools),
        "request_prefix": f"{prefix}req-",
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_CHAINS, params)
        cursor.execute(_EVENTS, params)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE audit_auditevent")

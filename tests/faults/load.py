"""Closed-loop `tools/call` load against a live server, every call recorded.

Used by the fault tests and scripts: each call has a unique JSON-RPC id
(also the `message` or `query` it sends), so the audit log can be matched
call by call afterwards (`audited_calls`). Tools and tenants are mixed:
echo and search_documents for tenant-a (alice) and tenant-b (carol), and
export_report for tenant-b; with `versions` both protocol generations
(2025-11-25, and 2026-07-28 with its `_meta` and Mcp-Method/Mcp-Name
headers) take turns over the whole mix.
"""

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx2

from tests.live_server import LiveServer

TOKENS = """
import json
import django
django.setup()
from oauth2_provider.models import get_application_model
from accounts.models import User
from oauth.tokens import mint_access_token
App = get_application_model()
App.objects.get_or_create(
    client_id="fault-client",
    defaults=dict(
        name="Faults", client_type=App.CLIENT_PUBLIC,
        authorization_grant_type=App.GRANT_AUTHORIZATION_CODE,
        redirect_uris="http://127.0.0.1:9/callback",
    ),
)
tokens = {}
for username in ("alice", "carol"):
    membership = User.objects.get(username=username).memberships.get()
    tokens[membership.tenant.slug] = mint_access_token(
        user_id=membership.user_id, client_id="fault-client",
        scopes=["tools:call"], tenant_id=membership.tenant_id,
        tenant_slug=membership.tenant.slug,
    ).token
print(json.dumps(tokens))
"""

AUDITED = """
import json, sys
import django
django.setup()
from audit.models import AuditEvent
rows = AuditEvent.objects.filter(
    event="tool_called", request_id__startswith=sys.argv[1]
).values_list("request_id", "tool", "arguments")
print(json.dumps([list(row) for row in rows]))
"""

LEGACY = "2025-11-25"
MODERN = "2026-07-28"
HEADERS = {
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": LEGACY,
}


@dataclass(frozen=True)
class Call:
    """One call as the client saw it. `status` is None when no answer came."""

    request_id: str
    tool: str
    arguments: dict[str, Any]
    started: float  # time.monotonic()
    elapsed: float
    status: int | None
    ok: bool  # HTTP 200 with a result that is not an error
    retry_after: str | None
    detail: str
    served_by: str = ""  # the load balancer's X-Served-By, when there is one
    version: str = LEGACY

    @property
    def finished(self) -> float:
        return self.started + self.elapsed


def mint_tokens(server: LiveServer) -> dict[str, str]:
    """A `tools:call` token per tenant slug (tenant-a: alice, tenant-b: carol)."""
    return json.loads(server.python("-c", TOKENS).splitlines()[-1])


def plan_calls(tokens: dict[str, str]) -> list[tuple[str, str, Callable[[str], dict]]]:
    """(tenant, tool, arguments for a request id): the mix, in turn."""
    plan = [
        ("tenant-a", "echo", lambda rid: {"message": rid}),
        ("tenant-b", "echo", lambda rid: {"message": rid}),
        ("tenant-a", "search_documents", lambda rid: {"query": rid[-1]}),
        ("tenant-b", "search_documents", lambda rid: {"query": rid[-1]}),
        ("tenant-b", "export_report", lambda rid: {"reportId": "r1"}),
    ]
    return [step for step in plan if step[0] in tokens]


async def run_load(
    url: str,
    tokens: dict[str, str],
    *,
    concurrency: int,
    stop: Callable[[], bool],
    prefix: str,
    call_timeout: float = 60.0,
    versions: tuple[str, ...] = (LEGACY,),
) -> list[Call]:
    """Call tools from `concurrency` loops until `stop()`; return every call.

    The protocol version takes the next of `versions` after each full
    round of the mix, so every tenant and tool is called in each.
    """
    plan = plan_calls(tokens)
    counter = itertools.count()
    calls: list[Call] = []
    limits = httpx2.Limits(max_connections=concurrency)
    async with httpx2.AsyncClient(
        headers=HEADERS, timeout=call_timeout, limits=limits
    ) as client:

        async def loop() -> None:
            while not stop():
                n = next(counter)
                tenant, tool, arguments = plan[n % len(plan)]
                version = versions[n // len(plan) % len(versions)]
                calls.append(
                    await call_tool(
                        client,
                        url,
                        tokens[tenant],
                        f"{prefix}{n}",
                        tool,
                        arguments,
                        version=version,
                    )
                )

        await asyncio.gather(*(loop() for _ in range(concurrency)))
    return calls


async def call_tool(
    client: httpx2.AsyncClient,
    url: str,
    token: str,
    request_id: str,
    tool: str,
    make_arguments: Callable[[str], dict],
    *,
    version: str = LEGACY,
) -> Call:
    """POST one `tools/call` as a client of `version` would; never raises.

    No answer at all is `status` None.
    """
    arguments = make_arguments(request_id)
    params: dict[str, Any] = {"name": tool, "arguments": arguments}
    # X-Request-Id: the load balancer logs it with the node it chose.
    headers = {"Authorization": f"Bearer {token}", "X-Request-Id": request_id}
    if version == MODERN:
        params["_meta"] = {
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {},
        }
        headers.update(
            {
                "MCP-Protocol-Version": MODERN,
                "Mcp-Method": "tools/call",
                "Mcp-Name": tool,
            }
        )
    started = time.monotonic()
    status, ok, retry_after, detail, served_by = None, False, None, "", ""
    try:
        reply = await client.post(
            url,
            headers=headers,
            json={
                "jsonrpc": "2.0",
                "id": request_id,
                "method": "tools/call",
                "params": params,
            },
        )
        status, retry_after = reply.status_code, reply.headers.get("retry-after")
        served_by = reply.headers.get("x-served-by", "")
        body = reply.json() if reply.content else {}
        result = body.get("result") if isinstance(body, dict) else None
        ok = status == 200 and isinstance(result, dict) and not result.get("isError")
        if not ok:
            detail = reply.text[:200]
    except Exception as exc:  # a reset, a timeout: no answer at all
        detail = f"{type(exc).__name__}: {exc}"[:200]
    return Call(
        request_id,
        tool,
        arguments,
        started,
        time.monotonic() - started,
        status,
        ok,
        retry_after,
        detail,
        served_by,
        version,
    )


def audited_calls(server: LiveServer, prefix: str) -> dict[str, tuple[str, dict]]:
    """request_id -> (tool, arguments) of the `tool_called` rows for `prefix`."""
    rows = json.loads(server.python("-c", AUDITED, prefix).splitlines()[-1])
    return {request_id: (tool, arguments) for request_id, tool, arguments in rows}


def unaudited_successes(calls: list[Call], audited: dict[str, tuple]) -> list[str]:
    """Ids of calls the client saw succeed without a matching audit row."""
    return [
        call.request_id
        for call in calls
        if call.ok and audited.get(call.request_id) != (call.tool, call.arguments)
    ]

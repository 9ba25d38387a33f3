"""Property-based tests of /mcp (issue #14 item 3), with hypothesis.

1. Over tenant, tool policy, scope set, tool and protocol generation: a
   tool is listed by `tools/list` if and only if calling it is not
   answered as an unknown tool, and a call succeeds (a tool result) if and
   only if the tenant has the tool enabled and the token holds every scope
   it requires: the oracle is the policy rows themselves, not `decide`.
2. Over arbitrary JSON bodies (and JSON-RPC-shaped ones with arbitrary
   parts): never a 5xx, and never a tool result without a new audit row.

The application runs its lifespan on an event loop of its own thread, so
that hypothesis drives it from a plain (sync) test one example at a time;
the database changes of an example are made from the test's thread before
its requests. Example counts are modest (the file runs in well under a
minute) and there is no deadline: a loaded machine is slow, not wrong.
"""

import asyncio
import json
import threading
from collections.abc import Callable, Coroutine, Iterator
from http import HTTPStatus
from typing import Any

import httpx2
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from accounts.models import User
from audit.models import AuditEvent
from mcpserver.policy import clear_policy_cache
from oauth.tokens import mint_access_token
from tenants.demo import DEMO_TOOLS
from tenants.models import SCOPE_ADMIN, SCOPE_TOOLS_CALL, Tenant, TenantTool, Tool
from tests.mcpserver.conftest import (
    LEGACY,
    MODERN,
    Demo,
    _fresh_process_state,
    call_params,
    demo,
    http_client,
    post_rpc,
    rpc_headers,
    running_app,
)

__all__ = ["_fresh_process_state", "demo"]  # fixtures, for pytest

pytestmark = pytest.mark.django_db(transaction=True)

Run = Callable[[Coroutine[Any, Any, Any]], Any]

PROPERTY_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    database=None,  # no .hypothesis/ directory in the checkout
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Arguments each tool accepts, harmless to repeat (admin_purge without
# `confirm: true` deletes nothing).
VALID_ARGUMENTS: dict[str, dict[str, Any]] = {
    "echo": {"message": "hi"},
    "search_documents": {"query": "plan"},
    "export_report": {"reportId": "r1"},
    "admin_purge": {"confirm": False},
    "no_such_tool": {},
}
# Each tenant's administrator, so that every drawn scope set is entitled.
ADMIN_OF = {"tenant-a": "alice", "tenant-b": "dave"}


@pytest.fixture
def run(demo: Demo) -> Iterator[Run]:
    """Run a coroutine on the running application's own loop and thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=60)

    app = running_app()
    run(app.__aenter__())
    try:
        yield run
    finally:
        run(app.__aexit__(None, None, None))
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


# --- 1. Listed iff not hidden; succeeds iff the policy allows ----------------
policies = st.fixed_dictionaries(
    {
        tool: st.tuples(st.booleans(), st.sampled_from(["", SCOPE_ADMIN]))
        for tool in DEMO_TOOLS
    }
)
scope_sets = st.frozensets(st.sampled_from([SCOPE_TOOLS_CALL, SCOPE_ADMIN]))


def _apply_policy(slug: str, policy: dict[str, tuple[bool, str]]) -> None:
    tenant = Tenant.objects.get(slug=slug)
    for name, (enabled, extra_scopes) in policy.items():
        TenantTool.objects.update_or_create(
            tenant=tenant,
            tool=Tool.objects.get(name=name),
            defaults={"enabled": enabled, "extra_scopes": extra_scopes},
        )
    clear_policy_cache()


def _required(name: str, extra_scopes: str) -> set[str]:
    return set(DEMO_TOOLS[name][1].split()) | set(extra_scopes.split())


@PROPERTY_SETTINGS
@given(
    slug=st.sampled_from(sorted(ADMIN_OF)),
    policy=policies,
    scopes=scope_sets,
    tool=st.sampled_from(sorted(VALID_ARGUMENTS)),
    version=st.sampled_from([LEGACY, MODERN]),
)
def test_listed_iff_not_hidden_and_called_iff_allowed(
    demo: Demo,
    run: Run,
    slug: str,
    policy: dict[str, tuple[bool, str]],
    scopes: frozenset[str],
    tool: str,
    version: str,
) -> None:
    _apply_policy(slug, policy)
    token = mint_access_token(
        user_id=User.objects.get(username=ADMIN_OF[slug]).pk,
        client_id=demo.client_id,
        scopes=sorted(scopes),
        tenant_id=demo.tenants[slug].pk,
        tenant_slug=slug,
    ).token
    audited = AuditEvent.objects.count()

    listing = run(post_rpc(token, "tools/list", version=version))
    call = run(
        post_rpc(
            token,
            "tools/call",
            call_params(tool, **VALID_ARGUMENTS[tool]),
            version=version,
            request_id=7,
        )
    )

    assert listing.status_code == HTTPStatus.OK
    listed = {entry["name"] for entry in listing.json()["result"]["tools"]}
    body = call.json()
    hidden = (
        "error" in body
        and body["error"]["code"] == -32602
        and body["error"]["message"] == f"Unknown tool: {tool}"
    )
    assert (tool in listed) == (not hidden)

    enabled = tool in policy and policy[tool][0]
    allowed = enabled and _required(tool, policy[tool][1]) <= scopes
    succeeded = call.status_code == HTTPStatus.OK and "result" in body
    event("allowed" if allowed else "hidden" if hidden else "step-up")
    assert succeeded == allowed, (call.status_code, body)
    if enabled and not allowed:  # step-up, naming every scope needed
        assert call.status_code == HTTPStatus.FORBIDDEN
        challenge = call.headers["www-authenticate"]
        assert 'error="insufficient_scope"' in challenge
        needed = " ".join(sorted(_required(tool, policy[tool][1])))
        assert f'scope="{needed}"' in challenge
    assert listed == {name for name, (on, _extra) in policy.items() if on}
    # Every call, allowed or refused, leaves exactly one row.
    assert AuditEvent.objects.count() == audited + 1


# --- 2. Arbitrary bodies: no 5xx, no tool result without an audit row ---------
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
ids = st.one_of(st.integers(), st.text(max_size=8), json_values)
methods = st.one_of(
    st.sampled_from(
        ["tools/call", "tools/list", "initialize", "ping", "server/discover"]
    ),
    json_values,
)
tool_names = st.one_of(st.sampled_from(sorted(VALID_ARGUMENTS)), json_values)
arguments = st.one_of(
    st.sampled_from(list(VALID_ARGUMENTS.values())),
    st.dictionaries(
        st.sampled_from(["message", "query", "limit", "reportId", "format", "x"]),
        json_values,
        max_size=3,
    ),
    json_values,
)
rpc_shaped = st.fixed_dictionaries(
    {"jsonrpc": st.sampled_from(["2.0", "2.0", "1.0"])},
    optional={
        "id": ids,
        "method": methods,
        "params": st.one_of(
            st.fixed_dictionaries(
                {"name": tool_names}, optional={"arguments": arguments}
            ),
            json_values,
        ),
    },
)
tool_calls = st.fixed_dictionaries(
    {
        "jsonrpc": st.just("2.0"),
        "id": st.integers(min_value=0, max_value=2**31),
        "method": st.just("tools/call"),
        "params": st.one_of(
            # A call its tool accepts (an allowed one runs and is audited),
            st.sampled_from(sorted(VALID_ARGUMENTS)).map(
                lambda name: {"name": name, "arguments": VALID_ARGUMENTS[name]}
            ),
            # or any arguments at all.
            st.fixed_dictionaries(
                {
                    "name": st.sampled_from(sorted(VALID_ARGUMENTS)),
                    "arguments": arguments,
                }
            ),
        ),
    }
)
bodies = st.one_of(
    tool_calls.map(json.dumps),
    rpc_shaped.map(json.dumps),
    json_values.map(json.dumps),
    st.binary(max_size=64).map(lambda raw: raw.decode("latin-1")),
)


MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
}


async def _post(token: str, body: str, version: str) -> httpx2.Response:
    headers = rpc_headers(version)
    try:
        message = json.loads(body)
    except ValueError:
        message = None
    if version == MODERN and isinstance(message, dict):
        # What a 2026-07-28 client adds: routing headers (where a header can
        # carry the value) and the `_meta` envelope.
        method = message.get("method")
        if isinstance(method, str) and method.isascii():
            headers["Mcp-Method"] = method
        params = message.get("params")
        if isinstance(params, dict):
            name = params.get("name")
            if isinstance(name, str) and name.isascii():
                headers["Mcp-Name"] = name
            params.setdefault("_meta", MODERN_META)
            body = json.dumps(message)
    async with http_client(token) as client:
        return await client.post(
            "/mcp", content=body.encode("utf-8", "surrogatepass"), headers=headers
        )


def _is_tool_result(response: httpx2.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    result = body.get("result") if isinstance(body, dict) else None
    return isinstance(result, dict) and "content" in result


@pytest.fixture
def carol_token(demo: Demo) -> str:
    return demo.token("carol")


@settings(PROPERTY_SETTINGS, max_examples=300)
@given(body=bodies, version=st.sampled_from([LEGACY, MODERN]))
def test_any_json_body_is_answered_without_a_5xx_or_an_unaudited_result(
    run: Run, carol_token: str, body: str, version: str
) -> None:
    audited = AuditEvent.objects.count()

    response = run(_post(carol_token, body, version))
    event(f"HTTP {response.status_code}, tool result: {_is_tool_result(response)}")

    assert response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR, (
        response.status_code,
        response.text[:300],
    )
    if _is_tool_result(response):
        assert AuditEvent.objects.count() > audited, response.text[:300]

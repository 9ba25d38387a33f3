"""A real server: uvicorn with two workers on one database.

A token revoked by another process (writing the revocation feed in the same
database) is refused by both workers within one second. Which worker
answered is read from the audit log: each process appends to its own hash
chain (`chain_id` = host:pid).
"""

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import pytest

from tests.live_server import LiveServer, run_live_server

SETUP = """
import json
import django
django.setup()
from oauth2_provider.models import get_application_model
from accounts.models import User
from oauth.tokens import mint_access_token
from tenants.demo import seed_demo_data
seed_demo_data()
App = get_application_model()
App.objects.create(
    client_id="live-client", name="Live", client_type=App.CLIENT_PUBLIC,
    authorization_grant_type=App.GRANT_AUTHORIZATION_CODE,
    redirect_uris="http://127.0.0.1:9/callback",
)
membership = User.objects.get(username="carol").memberships.get()
minted = mint_access_token(
    user_id=membership.user_id, client_id="live-client", scopes=["tools:call"],
    tenant_id=membership.tenant_id, tenant_slug=membership.tenant.slug,
)
print(json.dumps({"token": minted.token, "jti": minted.claims["jti"]}))
"""

CHAINS = """
import json, sys
import django
django.setup()
from audit.models import AuditEvent
chains = AuditEvent.objects.filter(event=sys.argv[1]).values_list("chain_id", flat=True)
print(json.dumps(sorted(set(chains))))
"""

REVOKE = """
import json, sys, time
import django
django.setup()
from oauth.tokens import revoke_jti
revoke_jti(jti=sys.argv[1])
print(json.dumps({"committed_at": time.time()}))
"""

CALL = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "tools/call",
    "params": {"name": "echo", "arguments": {"message": "live"}},
}


def _post(url: str, token: str) -> int:
    """One tools/call on a fresh connection; returns the HTTP status."""
    response = httpx2.post(
        url,
        json=CALL,
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2025-11-25",
        },
        timeout=10,
    )
    return response.status_code


def _chains(server: LiveServer, event: str) -> set[str]:
    """The hash chains (one per worker process) holding `event` rows."""
    return set(json.loads(server.python("-c", CHAINS, event).splitlines()[-1]))


def _burst(url: str, token: str, count: int = 16) -> list[int]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda _: _post(url, token), range(count)))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with run_live_server(tmp_path, workers=2, host="127.0.0.1") as live:
        yield live


def test_a_revoked_token_is_refused_by_both_workers_within_a_second(
    server: LiveServer,
) -> None:
    url = server.mcp_url
    minted = json.loads(server.python("-c", SETUP).splitlines()[-1])
    token = minted["token"]

    deadline = time.monotonic() + 20
    while len(_chains(server, "tool_called")) < 2:
        assert set(_burst(url, token)) == {200}
        assert time.monotonic() < deadline, "one worker never answered"

    committed_at = json.loads(server.python("-c", REVOKE, minted["jti"]))[
        "committed_at"
    ]
    time.sleep(max(0.0, committed_at + 1.0 - time.time()))

    deadline = time.monotonic() + 20
    while len(_chains(server, "tool_denied")) < 2:
        assert set(_burst(url, token)) == {401}
        assert time.monotonic() < deadline, "one worker never refused"
    assert _chains(server, "tool_denied") == _chains(server, "tool_called")

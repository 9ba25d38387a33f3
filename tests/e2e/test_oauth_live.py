"""The authorization server over real HTTP (uvicorn), driven by harness.flow.

The same client as `manage.py harness`: the 401 at /mcp, both metadata
documents, registration, the login and consent forms, and /token.
"""

import threading
import time

import httpx2
import jwt
import pytest
import requests

from harness.authorization import Code
from harness.discovery import discover
from harness.flow import authorize, sign_in
from harness.tokens import Grant
from tests.live_server import run_live_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # Two workers, so concurrent requests really run in parallel.
    with run_live_server(tmp_path_factory.mktemp("oauth-live"), workers=2) as live:
        yield live


def _sign_in(server, username: str, scope: str) -> Grant:
    return sign_in(server.mcp_url, username=username, password="demo", scope=scope)


def _verified_claims(grant: Grant) -> dict:
    """The JWKS-verified claims of `grant`, an RFC 9068 JWT."""
    assert jwt.get_unverified_header(grant.access_token)["typ"] == "at+jwt"
    return grant.claims


def _code(server, username: str, scope: str) -> Code:
    """A code for `username`, not yet redeemed."""
    with httpx2.Client(timeout=10) as client:
        discovery = discover(client, server.mcp_url)
        return authorize(
            client, discovery, username=username, password="demo", scope=scope
        )


def test_alice_goes_from_resource_metadata_to_an_admin_jwt(server):
    grant = _sign_in(server, "alice", "tools:call admin")
    claims = _verified_claims(grant)
    assert claims["scope"] == "admin tools:call"
    assert claims["aud"] == server.mcp_url
    assert claims["tenant"] == "tenant-a"


def test_bob_asking_for_both_scopes_gets_tools_call_only(server):
    grant = _sign_in(server, "bob", "tools:call admin")
    assert _verified_claims(grant)["scope"] == "tools:call"
    assert grant.scopes == ["tools:call"]


def test_concurrent_redemptions_of_one_code_leave_no_valid_token(server):
    """Two requests race to redeem one code on two workers.

    The loser is refused `invalid_grant` and its reuse detection revokes
    whatever the code issued, whichever request won (issue #14): the winner
    is refused too when it had not stored its token yet, and a token it did
    get is refused at /mcp within a second.
    """
    code = _code(server, "carol", "tools:call")
    token_endpoint = code.discovery.metadata["token_endpoint"]
    barrier = threading.Barrier(2)
    results: list[requests.Response] = []

    def redeem() -> None:
        barrier.wait()
        results.append(
            requests.post(token_endpoint, data=code.token_form(), timeout=10)
        )

    threads = [threading.Thread(target=redeem) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(r.status_code for r in results)
    assert statuses in ([200, 400], [400, 400]), [r.text for r in results]
    for refused in (r for r in results if r.status_code == 400):
        assert refused.json()["error"] == "invalid_grant"
    for winner in (r for r in results if r.status_code == 200):
        token = winner.json()["access_token"]
        deadline = time.monotonic() + 1.5
        while _list_tools(server, token).status_code != 401:
            assert time.monotonic() < deadline, "the winner's token still works"
            time.sleep(0.05)


def _list_tools(server, token: str) -> requests.Response:
    # A fresh connection each time, so requests spread over both workers.
    with requests.Session() as session:
        return session.post(
            server.mcp_url,
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}},
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/json, text/event-stream",
                "MCP-Protocol-Version": "2025-11-25",
                "Connection": "close",
            },
            timeout=10,
        )


def test_a_token_revoked_at_revoke_is_refused_by_every_worker_within_a_second(server):
    grant = _sign_in(server, "alice", "tools:call")
    token = grant.access_token
    assert all(_list_tools(server, token).status_code == 200 for _ in range(6))
    revoked = requests.post(
        f"{server.url}/revoke",
        data={"token": token, "client_id": grant.client_id},
        timeout=10,
    )
    assert revoked.status_code == 200
    time.sleep(1.0)
    answers = [_list_tools(server, token) for _ in range(10)]
    assert [a.status_code for a in answers] == [401] * 10
    assert 'error="invalid_token"' in answers[0].headers["WWW-Authenticate"]

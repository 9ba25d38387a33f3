"""Signing-key rotation on a live server: no token fails at /mcp in between.

The server runs with a short pre-publication window (4 s, JWKS max-age
1 s; the defaults are 600 s and 300 s). While the operator rotates, a
client keeps refreshing and calling /mcp with every token it ever got:
the new key is in the JWKS before any token is signed with it, tokens keep
being signed by the old key during the window and by the new one after it,
and every call, with old tokens and new, is answered 200.
"""

import time

import jwt
import pytest
import requests

from harness.flow import sign_in
from harness.tokens import refresh
from tests.live_server import run_live_server

WINDOW = 4.0


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with run_live_server(
        tmp_path_factory.mktemp("rotation-live"),
        workers=2,
        extra_env={
            "OAUTH_SIGNING_KEY_PREPUBLISH_SECONDS": str(int(WINDOW)),
            "OAUTH_JWKS_MAX_AGE_SECONDS": "1",
        },
    ) as live:
        yield live


def _jwks(server) -> requests.Response:
    response = requests.get(f"{server.url}/.well-known/jwks.json", timeout=10)
    assert response.status_code == 200
    return response


def _kids(server) -> set[str]:
    return {key["kid"] for key in _jwks(server).json()["keys"]}


def _kid(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def _list_tools(server, token: str) -> int:
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
        ).status_code


def test_the_jwks_says_how_long_it_may_be_cached(server):
    assert _jwks(server).headers["Cache-Control"] == "public, max-age=1"


def test_every_token_verifies_at_mcp_across_a_rotation(server):
    grant = sign_in(server.mcp_url, username="alice", password="demo")
    old_kid = _kid(grant.access_token)
    tokens = [grant.access_token]
    assert _kids(server) == {old_kid}

    # The new key signs from some moment in [started + WINDOW, ended + WINDOW].
    started = time.monotonic()
    server.manage("rotate_signing_key")
    ended = time.monotonic()
    new_kids = _kids(server) - {old_kid}
    assert len(new_kids) == 1, "the new key is published at once"
    (new_kid,) = new_kids

    statuses: list[int] = []
    timeline: list[tuple[float, str]] = []
    while time.monotonic() < ended + WINDOW + 3:
        grant = refresh(grant)  # the harness verifies it against the JWKS
        timeline.append((time.monotonic(), _kid(grant.access_token)))
        tokens.append(grant.access_token)
        statuses += [_list_tools(server, token) for token in tokens[-3:]]
        statuses.append(_list_tools(server, tokens[0]))
        time.sleep(0.3)

    assert set(statuses) == {200}, statuses
    during = [kid for at, kid in timeline if at < started + WINDOW - 0.2]
    after = [kid for at, kid in timeline if at > ended + WINDOW + 0.2]
    assert during, timeline
    assert set(during) == {old_kid}, timeline
    assert after, timeline
    assert set(after) == {new_kid}, timeline
    # Signed by the new key now; the old key stays while its tokens live.
    assert _kids(server) == {old_kid, new_kid}
    assert all(_list_tools(server, token) == 200 for token in tokens)

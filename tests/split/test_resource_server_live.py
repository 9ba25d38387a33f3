"""A resource server and its issuer as separate live processes, one database.

What a user of the resource server notices: tools answer with a token the
issuer signed for this resource; the metadata sends clients to the issuer;
authorization-server routes are not there; a token for another audience,
or one revoked at the issuer, is refused; an issuer that is not who it
claims to be, or not there, stops the resource server from starting.
"""

import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.live_server import LiveServer, free_port
from tests.split.servers import (
    Credentials,
    call,
    mint,
    register_resource_server,
    resource_server_env,
    revoke,
    run_resource_server,
    start,
    with_kid,
)

AS_ROUTES = [
    "/authorize",
    "/token",
    "/register",
    "/revoke",
    "/introspect",
    "/.well-known/jwks.json",
    "/.well-known/oauth-authorization-server",
    "/.well-known/oauth-authorization-server/mcp",
    "/resource-server/feed",
    "/admin/",
    "/account/",
    "/accounts/login/",
]


@pytest.fixture(scope="module")
def rs(
    issuer: LiveServer,
    credentials: Credentials,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveServer]:
    path = tmp_path_factory.mktemp("rs")
    with run_resource_server(issuer, credentials, path) as server:
        yield server


def test_tools_answer_with_a_token_the_issuer_signed_for_this_resource(
    issuer: LiveServer, rs: LiveServer
) -> None:
    minted = mint(issuer, rs.mcp_url)
    response = call(rs.mcp_url, minted["token"])
    assert response.status_code == 200, response.text
    assert response.json()["result"]["content"][0]["text"] == "split"


def test_a_token_for_another_resource_or_from_another_issuer_is_refused(
    issuer: LiveServer, rs: LiveServer
) -> None:
    for token in (
        mint(issuer, issuer.mcp_url)["token"],  # the issuer's own /mcp
        mint(issuer, rs.mcp_url, iss="http://evil.example")["token"],
    ):
        response = call(rs.mcp_url, token)
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_token"
        assert (
            response.json()["error_description"] == "token not issued for this resource"
        )


def test_the_metadata_names_the_issuer_and_authorization_routes_are_absent(
    issuer: LiveServer, rs: LiveServer
) -> None:
    metadata = httpx2.get(f"{rs.url}/.well-known/oauth-protected-resource/mcp").json()
    assert metadata["resource"] == rs.mcp_url
    assert metadata["authorization_servers"] == [issuer.url]
    challenge = call(rs.mcp_url, "")
    assert challenge.status_code == 401
    assert (
        f'resource_metadata="{rs.url}/.well-known/'
        in (challenge.headers["www-authenticate"])
    )
    for route in AS_ROUTES:
        for method in ("GET", "POST"):
            response = httpx2.request(method, f"{rs.url}{route}", timeout=10)
            assert response.status_code == 404, (method, route, response.text)
            # and the issuer does serve them (it is the authorization server)
    assert httpx2.get(f"{issuer.url}/.well-known/jwks.json").status_code == 200


def test_health_and_readiness_name_their_checks(rs: LiveServer) -> None:
    assert httpx2.get(f"{rs.url}/healthz").json() == {"status": "ok"}
    ready = httpx2.get(f"{rs.url}/readyz")
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    assert set(checks) == {
        "shutting_down",
        "database",
        "audit_writer",
        "jwks",
        "revocation_feed",
        "quota_backend",
    }
    assert all(check["ok"] for check in checks.values())


def test_a_token_revoked_at_the_issuer_is_refused_within_two_seconds(
    issuer: LiveServer, rs: LiveServer
) -> None:
    minted = mint(issuer, rs.mcp_url)
    assert call(rs.mcp_url, minted["token"]).status_code == 200
    committed_at = revoke(issuer, minted["claims"]["jti"])
    while (status := call(rs.mcp_url, minted["token"]).status_code) == 200:
        assert time.time() - committed_at < 5, "never refused"
        time.sleep(0.02)
    delay = time.time() - committed_at
    assert status == 401
    assert delay < 2.0


def _refused_start(
    issuer: LiveServer, credentials: Credentials, tmp_path: Path, **env: str
) -> str:
    port = free_port()
    full_env = resource_server_env(issuer, credentials, port, **env)
    log_path = tmp_path / "refused.log"
    process = start(full_env, port, log_path)
    assert process.wait(timeout=60) != 0
    return log_path.read_text()


def test_an_issuer_whose_metadata_names_another_issuer_is_refused_at_start(
    issuer: LiveServer, credentials: Credentials, tmp_path: Path
) -> None:
    # The same server under another name: its metadata says 127.0.0.1.
    other_name = issuer.url.replace("127.0.0.1", "localhost")
    log = _refused_start(
        issuer, credentials, tmp_path, MCP_AUTHORIZATION_SERVER=other_name
    )
    refusals = [line for line in log.splitlines() if "Startup refused" in line]
    assert len(refusals) == 1, log
    assert f"names issuer '{issuer.url}'" in refusals[0]
    assert f"not the configured MCP_AUTHORIZATION_SERVER '{other_name}'" in refusals[0]


def test_an_unreachable_issuer_or_wrong_credentials_refuse_the_start(
    issuer: LiveServer, credentials: Credentials, tmp_path: Path
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    log = _refused_start(
        issuer, credentials, tmp_path, MCP_AUTHORIZATION_SERVER=nowhere
    )
    assert (
        "Startup refused: resource-server mode: cannot read the issuer's metadata"
        in log
    )
    log = _refused_start(
        issuer, credentials, tmp_path, MCP_AUTHORIZATION_SERVER_CLIENT_SECRET="wrong"
    )
    assert "cannot read the issuer's revocation feed" in log
    assert "HTTP 401 invalid_client" in log


def test_a_resource_server_never_queries_an_oauth_table(
    issuer: LiveServer, credentials: Credentials, tmp_path: Path
) -> None:
    """Every statement of a live resource server, captured, names no OAuth table."""
    sql_log = tmp_path / "statements.sql"
    sql_log.touch()
    port = free_port()
    command = [sys.executable, "-m", "tests.split.sql_logging_server", str(port)]
    with run_resource_server(
        issuer,
        credentials,
        tmp_path,
        name="rs-sql",
        command=command,
        port=port,
        SQL_LOG_PATH=str(sql_log),
    ) as rs:
        good = mint(issuer, rs.mcp_url)["token"]
        revoked = mint(issuer, rs.mcp_url)
        assert call(rs.mcp_url, good).status_code == 200
        assert call(rs.mcp_url, revoked["token"]).status_code == 200
        revoke(issuer, revoked["claims"]["jti"])
        time.sleep(1.5)  # polls of the feed and of the subjects' status
        assert call(rs.mcp_url, revoked["token"]).status_code == 401
        assert (
            call(rs.mcp_url, mint(issuer, issuer.mcp_url)["token"]).status_code == 401
        )
        forged = mint(issuer, rs.mcp_url, username="alice")["token"]
        assert call(rs.mcp_url, with_kid(forged, "forged")).status_code == 401
        for route in [
            "/readyz",
            "/healthz",
            "/.well-known/oauth-protected-resource",
            *AS_ROUTES,
        ]:
            httpx2.get(f"{rs.url}{route}", timeout=10)
        assert call(rs.mcp_url, good).status_code == 200
    statements = sql_log.read_text().splitlines()
    assert any("tenants_membership" in sql for sql in statements), statements[:5]
    assert any("audit_auditevent" in sql for sql in statements)
    oauth = [sql for sql in statements if re.search(r"\boauth(2_provider)?_", sql)]
    assert oauth == []


@pytest.mark.parametrize(
    ("offset", "accepted", "refused", "why"),
    [
        # The resource server's clock is 2 minutes ahead: a token that expired
        # (in its view) 30 s ago is within the leeway, 90 s ago is not.
        (120, {"exp": 90}, {"exp": 30}, "token expired"),
        # 2 minutes behind: a token issued (in its view) 30 s from now is within
        # the leeway, 120 s from now is not.
        (-120, {"iat": -90, "nbf": -90}, {"iat": 0, "nbf": 0}, "token not yet valid"),
    ],
)
def test_clock_skew_within_the_leeway_is_tolerated_and_beyond_it_refused(
    issuer: LiveServer,
    credentials: Credentials,
    tmp_path: Path,
    offset: int,
    accepted: dict[str, int],
    refused: dict[str, int],
    why: str,
) -> None:
    with run_resource_server(
        issuer,
        credentials,
        tmp_path,
        MCP_TEST_HOOKS="true",
        MCP_TEST_CLOCK_OFFSET_SECONDS=str(offset),
        MCP_CLOCK_LEEWAY_SECONDS="60",
    ) as rs:
        good = mint(issuer, rs.mcp_url, offsets={"exp": 900, **accepted})
        assert call(rs.mcp_url, good["token"]).status_code == 200
        bad = mint(issuer, rs.mcp_url, offsets={"exp": 900, **refused})
        response = call(rs.mcp_url, bad["token"])
        assert response.status_code == 401
        assert response.json()["error_description"] == why


def test_a_clock_offset_needs_the_test_hooks_switch(
    issuer: LiveServer, credentials: Credentials, tmp_path: Path
) -> None:
    log = _refused_start(
        issuer, credentials, tmp_path, MCP_TEST_CLOCK_OFFSET_SECONDS="120"
    )
    assert "MCP_TEST_CLOCK_OFFSET_SECONDS is for tests only" in log


async def test_the_sdk_client_lists_and_calls_tools_on_the_resource_server(
    issuer: LiveServer, rs: LiveServer
) -> None:
    token = mint(issuer, rs.mcp_url, username="alice", scope="tools:call admin")
    headers = {"Authorization": f"Bearer {token['token']}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(rs.mcp_url, http_client=http)) as client,
    ):
        tools = sorted(tool.name for tool in (await client.list_tools()).tools)
        assert tools == ["admin_purge", "echo", "search_documents"]
        echo = await client.call_tool("echo", {"message": "across the boundary"})
        assert echo.content[0].text == "across the boundary"
        assert not echo.is_error


def test_another_issuers_claim_names_are_mapped(
    issuer: LiveServer, credentials: Credentials, tmp_path: Path
) -> None:
    """An issuer that puts the tenant in `org` and the scopes in a `scp` list."""
    with run_resource_server(
        issuer,
        credentials,
        tmp_path,
        MCP_TOKEN_TENANT_CLAIM="org",
        MCP_TOKEN_SCOPE_CLAIM="scp",
    ) as rs:
        usual = mint(issuer, rs.mcp_url)
        claims = usual["claims"]
        mapped = mint(
            issuer,
            rs.mcp_url,
            org=claims["tenant_id"],
            scp=["tools:call"],
            tenant_id=None,
            scope=None,
        )
        assert call(rs.mcp_url, mapped["token"]).status_code == 200
        refused = call(rs.mcp_url, usual["token"])  # no `org`, no `scp`
        assert refused.status_code == 401
        assert refused.json()["error_description"] in {
            "missing org claim",
            "missing scp claim",
        }


def test_the_real_oauth_flow_through_a_registered_resource_server(
    issuer: LiveServer, tmp_path: Path
) -> None:
    """register_resource_server, then sign-in, consent and a call at the RS.

    `manage.py harness` discovers the issuer from the RS's 401 and
    metadata, registers, signs alice in with PKCE and asks for a token for
    the RS (RFC 8707 `resource`), then calls a tool on the RS.
    """
    port = free_port()
    registered = register_resource_server(issuer, port)
    with run_resource_server(issuer, registered, tmp_path, port=port) as rs:
        output = issuer.manage(
            "harness",
            "--url",
            rs.mcp_url,
            "--tenant",
            "tenant-a",
            "--tool",
            "echo",
            "--args",
            '{"message": "via the resource server"}',
        )
    assert "alice in tenant-a, granted: tools:call" in output
    assert output.strip().splitlines()[-1] == "via the resource server"

"""A resource server and its issuer as separate live processes, one database.

What a user of the resource server notices: tools answer with a token the
issuer signed for this resource; the metadata sends clients to the issuer;
authorization-server routes are not there; a token for another audience,
or one revoked at the issuer, is refused; an issuer that is not who it
claims to be, or not there, stops the resource server from starting.
"""

import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.live_server import LiveServer, free_port
from tests.split.servers import (
    Credentials,
    call,
    mint,
    resource_server_env,
    revoke,
    run_resource_server,
    start,
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


def test_a_token_for_the_issuers_own_resource_is_refused(
    issuer: LiveServer, rs: LiveServer
) -> None:
    response = call(rs.mcp_url, mint(issuer, issuer.mcp_url)["token"])
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert "not issued for this resource" in response.json()["error_description"]


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
    assert set(checks) == {"database", "jwks", "revocation_feed"}
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

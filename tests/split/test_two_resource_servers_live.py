"""Two registered resource servers of one issuer: a token is for one only.

Live processes on one database: the issuer (tests/split/conftest.py) and
two resource servers on their own ports, each registered with `manage.py
register_resource_server` and started with the credentials it printed.
Tokens come from the real flow (harness.flow: the resource server's 401
and metadata, the issuer's /register, /authorize with RFC 8707
`resource`, consent, /token), so each token's `aud` is the one resource
the client asked for.
"""

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace

import httpx2
import pytest

from harness.discovery import discover
from harness.errors import AuthenticationFailed
from harness.flow import authorize, sign_in
from harness.tokens import refresh_form
from tests.live_server import LiveServer, free_port
from tests.split.servers import call, register_resource_server, run_resource_server


@pytest.fixture(scope="module")
def servers(
    issuer: LiveServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, LiveServer]]:
    """{"rs-1", "rs-2": the resource servers, "issuer": the issuer's own /mcp}."""
    with ExitStack() as stack:
        found = {"issuer": issuer}
        for name in ("rs-1", "rs-2"):
            port = free_port()  # the previous one is listening by now
            credentials = register_resource_server(issuer, port)
            found[name] = stack.enter_context(
                run_resource_server(
                    issuer,
                    credentials,
                    tmp_path_factory.mktemp(name),
                    name=name,
                    port=port,
                )
            )
        yield found


@pytest.mark.parametrize("holder", ["rs-1", "rs-2", "issuer"])
def test_a_token_works_where_it_was_asked_for_and_nowhere_else(
    servers: dict[str, LiveServer], holder: str
) -> None:
    mine = servers[holder]
    grant = sign_in(mine.mcp_url, username="alice", password="demo", tenant="tenant-a")
    assert grant.claims["aud"] == mine.mcp_url
    answer = call(mine.mcp_url, grant.access_token)
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["content"][0]["text"] == "split"
    for name, other in servers.items():
        if name == holder:
            continue
        refused = call(other.mcp_url, grant.access_token)
        assert refused.status_code == 401, (name, refused.text)
        assert refused.json()["error"] == "invalid_token"
        assert (
            refused.json()["error_description"] == "token not issued for this resource"
        )
        # The RFC 6750 challenge names this server's own metadata (RFC 9728),
        # where a client learns which resource to ask a token for.
        assert refused.headers["www-authenticate"] == (
            'Bearer error="invalid_token", resource_metadata="'
            f'{other.url}/.well-known/oauth-protected-resource/mcp", '
            'scope="tools:call"'
        )


def test_a_resource_nobody_registered_gets_invalid_target(
    servers: dict[str, LiveServer],
) -> None:
    """At /authorize (the browser is sent back with the error) and at /token."""
    rs = servers["rs-1"]
    unregistered = f"http://127.0.0.1:{free_port()}/mcp"
    with httpx2.Client(timeout=20) as client:
        discovery = discover(client, rs.mcp_url)
        elsewhere = replace(discovery, resource=unregistered)
        with pytest.raises(
            AuthenticationFailed, match=r": invalid_target: resource must be "
        ):
            authorize(
                client, elsewhere, username="alice", password="demo", tenant="tenant-a"
            )

        code = authorize(
            client, discovery, username="alice", password="demo", tenant="tenant-a"
        )
        token_endpoint = discovery.metadata["token_endpoint"]
        form = {**code.token_form(), "resource": unregistered}
        refused = client.post(token_endpoint, data=form)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == "invalid_target"
        # The code was not used up: redeemed for RS-1, then refreshed.
        redeemed = client.post(token_endpoint, data=code.token_form())
        assert redeemed.status_code == 200, redeemed.text
        refreshed = client.post(
            token_endpoint,
            data=refresh_form(
                client_id=code.request.client_id,
                refresh_token=redeemed.json()["refresh_token"],
                resource=unregistered,
            ),
        )
        assert refreshed.status_code == 400, refreshed.text
        assert refreshed.json()["error"] == "invalid_target"

"""Session mode across nodes: sticky by Mcp-Session-Id, recovered by a new
session when the node dies.

Two nodes with MCP_SESSIONS=true behind HAProxy. The official Python SDK
client (`mcp` 2.3.0, streamable HTTP, the initialize handshake) opens a
session through HAProxy; every request of the session is answered by the
node that created it (HAProxy's stick table on Mcp-Session-Id). That node
is SIGKILLed: the session's next request goes to the other node, which
answers 404 for the unknown session, and the SDK raises it as an error
("Session terminated", or the server's JSON-RPC error). The SDK does not
initialize again by itself (mcp/client/streamable_http.py turns the 404
into an error and keeps the dead session id); a client opens a new
session, which is what this test does, and its next call succeeds on the
surviving node.
"""

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from deploy import cluster
from deploy.cluster import ClusterState
from tests.cluster.conftest import as_live_server, running_cluster
from tests.faults.load import mint_tokens


@pytest.fixture(scope="module")
def session_cluster(
    tmp_path_factory: pytest.TempPathFactory, cluster_database: tuple[str, Path]
) -> Iterator[ClusterState]:
    with running_cluster(
        tmp_path_factory.mktemp("sessions"),
        cluster_database,
        node_count=2,
        sessions=True,
    ) as state:
        yield state


class Answers:
    """(method, status, node) of every response the client received, and
    the session ids the client sent."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int, str]] = []
        self.session_ids: list[str] = []

    async def record(self, response: httpx2.Response) -> None:
        self.seen.append(
            (
                response.request.method,
                response.status_code,
                response.headers.get("x-served-by", ""),
            )
        )
        sent = response.request.headers.get("mcp-session-id")
        if sent and sent not in self.session_ids:
            self.session_ids.append(sent)

    def nodes(self, since: int = 0) -> set[str]:
        return {node for _, _, node in self.seen[since:] if node}


async def test_a_session_stays_on_its_node_and_a_new_one_continues_after_it_dies(
    session_cluster: ClusterState,
) -> None:
    state = session_cluster
    token = mint_tokens(as_live_server(state))["tenant-a"]
    url = f"{state.public_url}/mcp"
    answers = Answers()
    message = f"sticky-{uuid.uuid4().hex[:8]}"
    async with httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
        event_hooks={"response": [answers.record]},
    ) as http:
        first = Client(
            streamable_http_client(url, http_client=http), mode="legacy", cache=None
        )
        async with first:
            for n in range(5):
                echo = await first.call_tool("echo", {"message": f"{message}-{n}"})
                assert echo.content[0].text == f"{message}-{n}"
            home = answers.nodes()
            assert len(home) == 1, answers.seen  # sticky: one node served it all
            (home_node,) = home
            index = int(home_node.removeprefix("node"))
            cluster.kill_node(state, index)
            # A request sent at the instant of the kill may ride a connection
            # HAProxy still keeps to the dead node and get 502 (a POST is not
            # replayed); the session's next call, once the checks noticed
            # (1 s), is what this test is about.
            cluster.wait_out_of_rotation(state, index, bound=15)
            before_kill = len(answers.seen)
            with pytest.raises(MCPError) as lost:
                await first.call_tool("echo", {"message": "after the kill"})
            # POSTs only: the session's SSE stream (GET), opened before the
            # kill, is reported whenever its response ends.
            after_kill = [a for a in answers.seen[before_kill:] if a[0] == "POST"]
        # The session's request reached the other node, which does not know
        # the session: 404 (HAProxy broke the stickiness to a dead node).
        assert [status for _, status, _ in after_kill] == [404], after_kill
        assert home_node not in {node for _, _, node in after_kill}, after_kill
        assert lost.value.error.message in ("Session terminated", "Session not found")

        # What a client does on 404 for its session: a new session.
        since = len(answers.seen)
        async with Client(
            streamable_http_client(url, http_client=http), mode="legacy", cache=None
        ) as second:
            again = await second.call_tool("echo", {"message": f"{message}-again"})
    assert not again.is_error
    assert again.content[0].text == f"{message}-again"
    survivors = answers.nodes(since)
    assert survivors, answers.seen[since:]
    assert home_node not in survivors, answers.seen[since:]
    assert len(answers.session_ids) == 2, answers.session_ids  # a new session

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
surviving node. The official TypeScript SDK client
(`@modelcontextprotocol/sdk`, pinned, installed with npm into .cache/)
goes through the same steps (tests/cluster/ts_session_client.mjs): it
raises the 404 as StreamableHTTPError and does not initialize again by
itself either.
"""

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from deploy import cluster
from deploy.state import ClusterState
from tests.cluster.conftest import as_live_server, running_cluster
from tests.e2e.claude_code import ROOT, NpmInstallError, npm_install
from tests.faults.load import mint_tokens

TS_SDK_VERSION = "1.32.2"
TS_SDK_DIR = ROOT / ".cache" / "ts-sdk"
TS_CLIENT = Path(__file__).parent / "ts_session_client.mjs"


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


@pytest.fixture
def both_nodes(session_cluster: ClusterState) -> ClusterState:
    """The module's cluster with both nodes ready (a test kills one)."""
    for node in session_cluster.nodes:
        if not cluster.nodes.alive(node.pid):
            cluster.start_node(session_cluster, node.index)
    cluster.wait_ready(session_cluster, [node.index for node in session_cluster.nodes])
    return session_cluster


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
    both_nodes: ClusterState,
) -> None:
    state = both_nodes
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


def ts_sdk() -> Path:
    """The TypeScript SDK's install directory (npm, once, into .cache/)."""

    def installed() -> Path | None:
        package = TS_SDK_DIR / "node_modules/@modelcontextprotocol/sdk/package.json"
        if package.exists() and json.loads(package.read_text())["version"] == (
            TS_SDK_VERSION
        ):
            return TS_SDK_DIR
        return None

    try:
        return npm_install(
            TS_SDK_DIR, [f"@modelcontextprotocol/sdk@{TS_SDK_VERSION}"], installed
        )
    except NpmInstallError as error:
        pytest.fail(f"the TypeScript SDK could not be installed: {error}")


def test_the_typescript_sdk_client_continues_in_a_new_session_after_its_node_dies(
    both_nodes: ClusterState,
) -> None:
    state = both_nodes
    node_binary = shutil.which("node")
    if node_binary is None:
        pytest.fail("node is needed for the TypeScript SDK client")
    # ESM resolves packages beside the script: run it from the install.
    script = ts_sdk() / TS_CLIENT.name
    shutil.copyfile(TS_CLIENT, script)
    token = mint_tokens(as_live_server(state))["tenant-b"]
    process = subprocess.Popen(
        [node_binary, str(script), f"{state.public_url}/mcp", token],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdin is not None
        ready = json.loads(process.stdout.readline() or "{}")
        assert ready.get("step") == "ready", ready if ready else process.stderr.read()
        home = {node for _, _, node in ready["answers"] if node}
        assert len(home) == 1, ready  # sticky: one node served the session
        (home_node,) = home
        index = int(home_node.removeprefix("node"))
        cluster.kill_node(state, index)
        cluster.wait_out_of_rotation(state, index, bound=15)
        process.stdin.write("go\n")
        process.stdin.flush()
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    done = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
    assert done.get("step") == "done", err[-2000:]
    assert [status for _, status, _ in done["afterKill"]] == [404], done
    assert done["error"]["code"] == 404, done
    assert done["second"]["text"] == "ts-again"
    assert done["second"]["sessionId"] != ready["sessionId"]
    second_nodes = {node for _, _, node in done["second"]["answers"] if node}
    assert second_nodes, done
    assert home_node not in second_nodes, done

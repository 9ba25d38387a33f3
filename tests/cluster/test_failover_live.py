"""Three nodes behind HAProxy on PostgreSQL and Redis, under mixed load.

- one node SIGKILLed and another restarted (SIGTERM) under load: every
  call the client saw succeed has its audit row, the chains verify, and
  the only failures are calls in flight on the killed node (sent to it
  before HAProxy's checks had it DOWN);
- a revoked token is refused by every node, asked directly, within a
  second of the revocation's answer;
- a rolling restart of every node under load: every call answered 200
  with its result, and audited.

The load mixes tenants, tools and both protocol generations
(tests/cluster/disruption.py). Bounds are generous where the machine's
load decides (readiness waits), strict where the design promises (no
error but on the killed node; revocation within a second).
"""

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from deploy import cluster
from deploy.state import ClusterState
from harness.flow import sign_in
from tests.cluster.conftest import as_live_server, running_cluster
from tests.cluster.disruption import (
    audit_tally,
    load_while,
    served_by_in_log,
    summary,
)
from tests.faults.load import LEGACY, MODERN, Call, mint_tokens

NODES = 3


@pytest.fixture(scope="module")
def three_nodes(
    tmp_path_factory: pytest.TempPathFactory, cluster_database: tuple[str, Path]
) -> Iterator[ClusterState]:
    with running_cluster(
        tmp_path_factory.mktemp("cluster3"), cluster_database, node_count=NODES
    ) as state:
        yield state


@pytest.fixture
def state(three_nodes: ClusterState) -> ClusterState:
    """The module's cluster with every node ready (an earlier test may have
    left one down)."""
    for node in three_nodes.nodes:
        if not cluster.nodes.alive(node.pid):
            cluster.start_node(three_nodes, node.index)
    cluster.wait_ready(three_nodes, [node.index for node in three_nodes.nodes])
    return three_nodes


def test_a_killed_node_fails_only_its_calls_in_flight_and_loses_no_audit_row(
    state: ClusterState,
) -> None:
    prefix = f"failover-{uuid.uuid4().hex[:8]}-"
    tokens = mint_tokens(as_live_server(state))
    marks: dict[str, float] = {}

    def disrupt() -> None:
        marks["kill"] = time.monotonic()
        cluster.kill_node(state, 1)
        marks["killed"] = time.monotonic()
        # Until its checks have node 1 DOWN, HAProxy may still send a request
        # there on a connection it kept open to it: such a call is in flight
        # on the killed node too (a refused new connection is redispatched,
        # a kept one is not; a POST is never replayed).
        cluster.wait_out_of_rotation(state, 1, bound=10)
        marks["down"] = time.monotonic()
        time.sleep(max(0.0, 1.0 - (marks["down"] - marks["killed"])))
        marks["sigterm"] = time.monotonic()
        cluster.restart_node(state, 2)
        marks["restarted"] = time.monotonic()
        cluster.start_node(state, 1)
        marks["node1_back"] = time.monotonic()

    calls = load_while(state, tokens, disrupt, prefix=prefix)
    tally = audit_tally(state, calls, prefix)

    seen = summary(calls, marks)

    logged = served_by_in_log(state)

    def in_flight_on_the_killed_node(call: Call) -> bool:
        in_flight = call.started <= marks["down"] and call.finished >= marks["kill"]
        # A call cut off gets no answer to carry X-Served-By; HAProxy's log
        # names its node, when HAProxy logs it (a connection it reused to
        # the node and closes on the client without an answer may have no
        # line): then no other node can have served it.
        node = call.served_by or logged.get(call.request_id)
        return in_flight and node in ("node1", None)

    failed = [call for call in calls if not call.ok]
    assert all(in_flight_on_the_killed_node(call) for call in failed), seen
    assert all(call.status is None or call.status >= 500 for call in failed), seen
    assert tally.unaudited == [], seen
    assert tally.verify_ok, tally.verify_tail
    # The load reached every node, in both generations, and went on
    # through the restart of node 2 and after node 1's return.
    assert {call.served_by for call in calls if call.ok} == {"node1", "node2", "node3"}
    assert {call.version for call in calls if call.ok} == {LEGACY, MODERN}
    assert any(
        call.ok and marks["sigterm"] < call.started < marks["restarted"]
        for call in calls
    ), seen
    assert any(
        call.ok and call.served_by == "node1" and call.started > marks["node1_back"]
        for call in calls
    ), seen


def test_a_revoked_token_is_refused_by_every_node_within_a_second(
    state: ClusterState,
) -> None:
    # Through HAProxy, as a user would: register, sign in (the form's
    # session and CSRF cookie are good on every node), consent, /token.
    grant = sign_in(
        f"{state.public_url}/mcp", username="alice", password="demo", scope="tools:call"
    )
    token = grant.access_token
    urls = [f"{node.url}/mcp" for node in state.nodes]

    async def call(client: httpx2.AsyncClient, url: str) -> int:
        reply = await client.post(
            url,
            headers={"Authorization": f"Bearer {token}"},
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": "echo", "arguments": {"message": "revoked?"}},
            },
        )
        return reply.status_code

    async def until_refused(
        client: httpx2.AsyncClient, url: str, since: float
    ) -> float:
        while time.monotonic() - since < 10:
            if await call(client, url) == 401:
                return time.monotonic() - since
            await asyncio.sleep(0.02)
        return float("inf")

    async def conduct() -> tuple[list[int], int, list[float]]:
        headers = {
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": LEGACY,
        }
        async with httpx2.AsyncClient(headers=headers, timeout=10) as client:
            before = [await call(client, url) for url in urls]
            revoked = await client.post(
                f"{state.public_url}/revoke",
                data={"token": token, "client_id": grant.client_id},
            )
            answered = time.monotonic()
            delays = await asyncio.gather(
                *(until_refused(client, url, answered) for url in urls)
            )
            return before, revoked.status_code, list(delays)

    before, revoke_status, delays = asyncio.run(conduct())
    assert before == [200] * NODES
    assert revoke_status == 200
    assert max(delays) < 1.0, delays


def test_a_rolling_restart_of_every_node_answers_every_call(
    state: ClusterState,
) -> None:
    prefix = f"rolling-{uuid.uuid4().hex[:8]}-"
    tokens = mint_tokens(as_live_server(state))
    marks: dict[str, float] = {}

    def roll() -> None:
        for node in state.nodes:
            marks[f"sigterm{node.index}"] = time.monotonic()
            cluster.restart_node(state, node.index)
            marks[f"ready{node.index}"] = time.monotonic()

    calls = load_while(state, tokens, roll, prefix=prefix)
    tally = audit_tally(state, calls, prefix)

    seen = summary(calls, marks)
    assert [call for call in calls if not call.ok] == [], seen
    assert tally.unaudited == [], seen
    assert tally.verify_ok, tally.verify_tail
    for node in state.nodes:  # each node served again after its restart
        assert any(
            call.served_by == node.server and call.started > marks[f"ready{node.index}"]
            for call in calls
        ), seen

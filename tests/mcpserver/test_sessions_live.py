"""Session mode on a real uvicorn: SSE resumption and streams cut on revocation.

The server keeps its events in Redis (db 13 by default,
MCP_TEST_EVENT_REDIS_URL) reached through a TCP proxy the test controls
(tests/faults/pgproxy.py), so an outage can be staged without touching the
shared Redis. Runs on SQLite, or PostgreSQL when DATABASE_URL says so.
"""

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.message import ClientMessageMetadata

from tests.faults.pgproxy import Mode, PgProxy
from tests.live_server import LiveServer, run_live_server
from tests.mcpserver.raw_session import RawSession
from tests.mcpserver.test_event_store import REDIS_URL

POLL_SECONDS = 0.5
TTL_SECONDS = 4
CUT_BOUND_SECONDS = 2.0
"""A revoked token's open stream ends within this: the poll interval, the
feed's freshness bound (1 s) and a margin for a loaded machine."""

MINT = """
import json, sys
import django
django.setup()
from oauth2_provider.models import get_application_model
from accounts.models import User
from oauth.tokens import mint_access_token
App = get_application_model()
App.objects.get_or_create(
    client_id="live-client",
    defaults=dict(
        name="Live", client_type=App.CLIENT_PUBLIC,
        authorization_grant_type=App.GRANT_AUTHORIZATION_CODE,
        redirect_uris="http://127.0.0.1:9/callback",
    ),
)
membership = User.objects.get(username=sys.argv[2]).memberships.get(
    tenant__slug=sys.argv[3]
)
minted = mint_access_token(
    user_id=membership.user_id, client_id="live-client", scopes=["tools:call"],
    tenant_id=membership.tenant_id, tenant_slug=membership.tenant.slug,
    lifetime=int(sys.argv[1]),
)
print(json.dumps({
    "token": minted.token, "jti": minted.claims["jti"], "exp": minted.claims["exp"],
}))
"""

REVOKE = """
import json, sys, time
import django
django.setup()
from oauth.tokens import revoke_jti
revoke_jti(jti=sys.argv[1])
print(json.dumps({"committed_at": time.time()}))
"""


@pytest.fixture(scope="module")
def redis_proxy() -> Iterator[PgProxy]:
    host, port = REDIS_URL.split("//")[1].split("/")[0].split(":")
    with PgProxy(host, int(port)).running() as proxy:
        yield proxy


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, redis_proxy: PgProxy
) -> Iterator[LiveServer]:
    database = REDIS_URL.rsplit("/", 1)[1]
    env = {
        "MCP_SESSIONS": "true",
        "MCP_EVENT_STORE_URL": f"redis://127.0.0.1:{redis_proxy.port}/{database}",
        "MCP_EVENT_TTL_SECONDS": str(TTL_SECONDS),
        "MCP_EVENT_STORE_TIMEOUT": "0.3",
        "MCP_REVOCATION_POLL_SECONDS": str(POLL_SECONDS),
        "MCP_CLOCK_LEEWAY_SECONDS": "0",
    }
    with run_live_server(
        tmp_path_factory.mktemp("sessions"), host="127.0.0.1", extra_env=env
    ) as live:
        yield live


def mint(
    server: LiveServer,
    lifetime: int = 600,
    user: str = "carol",
    tenant: str = "tenant-b",
) -> dict:
    """A fresh access token (and its jti and exp) of `user` in `tenant`."""
    out = server.python("-c", MINT, str(lifetime), user, tenant)
    return json.loads(out.splitlines()[-1])


def session(server: LiveServer, token: str) -> RawSession:
    opened = RawSession(server.mcp_url, token)
    opened.open()
    return opened


def test_reconnect_with_last_event_id_gets_exactly_the_missed_events(server):
    client = session(server, mint(server)["token"])
    call = client.call_echo(2, "missed")
    priming, answer = call.events[0], call.events[-1]
    assert priming.data == ""
    assert priming.id
    assert answer.message["id"] == 2

    # As if the connection broke after the priming event: the answer is
    # replayed, with the id it had, and nothing else.
    replay = client.get(last_event_id=priming.id, stop_after=1)
    assert replay.status == 200
    assert replay.messages == [answer.message]
    assert [e.id for e in replay.events if e.data] == [answer.id]

    # Having seen the answer, nothing is missed: only a fresh cursor.
    caught_up = client.get(last_event_id=answer.id, stop_after=1, timeout=3)
    assert caught_up.messages == []


async def test_the_sdk_client_resumes_a_call_from_its_resumption_token(server):
    """The Python SDK's own resumption: a GET with Last-Event-ID, same answer."""
    token = mint(server)["token"]
    tokens: list[str] = []

    async def remember(resumption_token: str) -> None:
        tokens.append(resumption_token)

    request = types.CallToolRequest(
        params=types.CallToolRequestParams(
            name="echo", arguments={"message": "resume me"}
        )
    )
    async with (
        httpx2.AsyncClient(
            headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as http,
        Client(
            streamable_http_client(server.mcp_url, http_client=http), mode="legacy"
        ) as client,
    ):
        first = await client.session.send_request(
            request,
            types.CallToolResult,
            metadata=ClientMessageMetadata(on_resumption_token_update=remember),
        )
        # The priming event's id, then the answer's.
        assert len(tokens) == 2
        resumed = await client.session.send_request(
            request,
            types.CallToolResult,
            metadata=ClientMessageMetadata(resumption_token=tokens[0]),
        )
    assert first.content[0].text == "resume me"
    assert resumed == first


def test_another_sessions_event_id_replays_nothing(server):
    token = mint(server)["token"]
    victim = session(server, token)
    victim_id = victim.call_echo(2, "private").events[0].id
    # The victim's own session can replay (first: the events live only
    # TTL_SECONDS, which a loaded machine spent on the two sessions below).
    assert victim.get(last_event_id=victim_id, stop_after=1).messages
    # Another session of the same principal, and one of another user.
    other_user = mint(server, user="bob", tenant="tenant-a")["token"]
    for other in (session(server, token), session(server, other_user)):
        replay = other.get(last_event_id=victim_id, timeout=5)
        assert replay.status == 200
        assert replay.events == []
        assert replay.ended_at is not None


def test_a_session_and_its_events_are_bound_to_the_tenant(server):
    in_a = session(server, mint(server, user="dave", tenant="tenant-a")["token"])
    event_id = in_a.call_echo(2, "tenant a").events[0].id
    in_b = RawSession(
        server.mcp_url,
        mint(server, user="dave", tenant="tenant-b")["token"],
        session_id=in_a.session_id,
    )
    # The same user and client, another tenant: the session does not exist.
    assert in_b.get(last_event_id=event_id, timeout=5).status == 404
    assert in_b.call_echo(3, "tenant b").status == 404


def test_events_expire_after_the_ttl(server):
    client = session(server, mint(server)["token"])
    priming = client.call_echo(2, "soon gone").events[0]
    time.sleep(TTL_SECONDS + 1)
    replay = client.get(last_event_id=priming.id, timeout=5)
    assert replay.events == []
    assert replay.ended_at is not None


def open_stream(client: RawSession, last_event_id: str | None = None) -> Future:
    """A GET stream read in a thread, once it is open; its Stream at the end."""
    opened = threading.Event()
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(
        client.get, last_event_id=last_event_id, opened=opened, timeout=60
    )
    assert opened.wait(10), "the GET stream did not open"
    pool.shutdown(wait=False)
    return future


@pytest.mark.parametrize("kind", ["get", "resumed"])
def test_revocation_ends_an_open_stream_within_the_bound(server, kind):
    minted = mint(server)
    client = session(server, minted["token"])
    # The session's GET stream, or a resumed stream (which stays open for
    # what its request may still send after the replay).
    resume_from = client.call_echo(2, "x").events[0].id if kind == "resumed" else None
    stream = open_stream(client, resume_from)

    committed_at = json.loads(
        server.python("-c", REVOKE, minted["jti"]).splitlines()[-1]
    )["committed_at"]

    ended = stream.result(timeout=30)
    assert ended.status == 200
    assert ended.ended_at is not None
    assert ended.ended_at - committed_at < CUT_BOUND_SECONDS
    assert client.call_echo(3, "after").status == 401


def test_expiry_ends_an_open_get_stream_at_exp(server):
    # Long enough that minting and opening finish first on a loaded machine.
    minted = mint(server, lifetime=8)
    client = session(server, minted["token"])
    stream = open_stream(client)

    ended = stream.result(timeout=30)
    assert ended.status == 200
    assert ended.ended_at is not None
    # Not before exp (whole seconds) and soon after it.
    assert minted["exp"] - 0.05 <= ended.ended_at < minted["exp"] + CUT_BOUND_SECONDS
    assert client.call_echo(3, "after").status == 401


def test_an_open_stream_of_a_live_token_stays_open(server):
    client = session(server, mint(server)["token"])
    stream = client.get(stop_after=1, timeout=3 * POLL_SECONDS + 1)
    # Nothing to send, no refusal: it is cut by the client's read timeout.
    assert stream.ended_at is None


def test_redis_outage_keeps_sessions_working_without_resumption(server, redis_proxy):
    client = session(server, mint(server)["token"])
    assert client.call_echo(2, "before").events[0].id
    redis_proxy.set_mode(Mode.REFUSE)
    try:
        during = [client.call_echo(n, "during") for n in (3, 4, 5)]
    finally:
        redis_proxy.set_mode(Mode.FORWARD)
    for number, call in zip((3, 4, 5), during, strict=True):
        assert call.status == 200
        assert call.messages[-1]["id"] == number
        assert "result" in call.messages[-1]
        assert all(not event.id for event in call.events)

    time.sleep(1.2)  # the event store is left alone a second after a failure
    assert client.call_echo(6, "after").events[0].id
    log = server.log()
    assert log.count("SSE event store (redis) failed") == 1, log
    assert log.count("SSE event store (redis) recovered") == 1, log

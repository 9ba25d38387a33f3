"""Signing-key rotation across the boundary: an issuer and a resource server.

Live processes on one database (tests/split/servers.py). The issuer sends
its JWKS with `max-age` MAX_AGE and publishes a rotated-in key WINDOW
before it signs (defaults 300 s and 600 s; scaled down here, and the
issuer's own check oauth.E002 holds: WINDOW > MAX_AGE). The resource
server keeps the JWKS for that max-age: its MCP_JWKS_UNKNOWN_KID_INTERVAL_
SECONDS, also the floor of its cache time, is lowered to UNKNOWN_INTERVAL
(at its default, 10 s, a 3 s max-age would be kept 10 s).

Tokens come from the real flow: alice signs in for the resource server
(harness.flow.sign_in: its 401, its metadata, the issuer's /authorize with
`resource`, consent) and the client refreshes at the issuer's /token; the
operator runs `manage.py rotate_signing_key` on the issuer's database.
"""

import logging
import re
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx2
import jwt
import pytest

from harness.flow import sign_in
from harness.tokens import Grant, refresh
from tests.live_server import LiveServer, free_port, run_live_server
from tests.split.servers import (
    call,
    register_resource_server,
    run_resource_server,
    with_kid,
)

logger = logging.getLogger(__name__)

MAX_AGE = 3
WINDOW = 10
UNKNOWN_INTERVAL = 2
ISSUER_TIMEOUT = 2  # MCP_ISSUER_TIMEOUT_SECONDS, the default
REFUSAL_BOUND = MAX_AGE + ISSUER_TIMEOUT + UNKNOWN_INTERVAL
"""An immediate rotation's old tokens are refused within this: the RS's
copy of the JWKS expires at most MAX_AGE after the withdrawal, the refetch
then takes at most ISSUER_TIMEOUT, and a failed one is retried after
UNKNOWN_INTERVAL."""
UNKNOWN_KID_REFETCH = "not in the cached JWKS: refetching it"
NEW_KEY = re.compile(r"New key: (\S+) \(\w+\), in the JWKS now, signs from (\S+)\.")


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """An authorization server with short rotation windows (see the module)."""
    with run_live_server(
        tmp_path_factory.mktemp("rotation-issuer"),
        host="127.0.0.1",
        log_level="info",
        extra_env={
            "OAUTH_JWKS_MAX_AGE_SECONDS": str(MAX_AGE),
            "OAUTH_SIGNING_KEY_PREPUBLISH_SECONDS": str(WINDOW),
        },
    ) as server:
        yield server


@pytest.fixture
def rs(issuer: LiveServer, tmp_path: Path) -> Iterator[LiveServer]:
    """A resource server registered at the issuer (its own client)."""
    port = free_port()
    credentials = register_resource_server(issuer, port)
    with run_resource_server(
        issuer,
        credentials,
        tmp_path,
        port=port,
        MCP_JWKS_UNKNOWN_KID_INTERVAL_SECONDS=str(UNKNOWN_INTERVAL),
    ) as server:
        yield server


def _kid(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def _rotate(issuer: LiveServer, *flags: str) -> tuple[str, float]:
    """Run rotate_signing_key; the new kid and when it signs (epoch seconds)."""
    match = NEW_KEY.search(issuer.manage("rotate_signing_key", *flags))
    assert match is not None
    return match.group(1), datetime.fromisoformat(match.group(2)).timestamp()


def _rs_key_count(rs: LiveServer) -> int | None:
    """How many keys the resource server holds, as its /readyz says.

    None while /readyz does not say: for the moment of each routine refetch
    (at the max-age) it reports the JWKS `stale: fetched N s ago` instead.
    """
    detail = httpx2.get(f"{rs.url}/readyz", timeout=10).json()["checks"]["jwks"]
    match = re.match(r"(\d+) keys", detail["detail"])
    return None if match is None else int(match.group(1))


def _rs_keys_now(rs: LiveServer) -> int:
    """`_rs_key_count`, asked again until /readyz says."""
    for _attempt in range(50):
        if (count := _rs_key_count(rs)) is not None:
            return count
        time.sleep(0.1)
    raise AssertionError("the RS's /readyz never said how many keys it holds")


def _sign_in(rs: LiveServer) -> Grant:
    return sign_in(rs.mcp_url, username="alice", password="demo", tenant="tenant-a")


class Caller:
    """A client calling echo on the resource server without pause.

    Each round calls with the first token it was given and the two newest,
    each on a fresh connection; `calls` records (time, kid, status), status
    0 for a transport error; `refusals` the answers of the calls not 200.
    """

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.tokens = [token]
        self.calls: list[tuple[float, str, int]] = []
        self.refusals: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Caller":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            for token in dict.fromkeys([self.tokens[0], *self.tokens[-2:]]):
                try:
                    answer = call(self.url, token)
                    status = answer.status_code
                    if status != 200:
                        self.refusals.append(f"{status} {answer.text[:300]}")
                except httpx2.HTTPError as exc:
                    status = 0
                    self.refusals.append(repr(exc))
                self.calls.append((time.time(), _kid(token), status))
            self._stop.wait(0.05)


class KeyWatch:
    """Polls the resource server's /readyz; `seen_at`: when it held `count` keys."""

    def __init__(self, rs: LiveServer, count: int) -> None:
        self.rs, self.count = rs, count
        self.seen_at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "KeyWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while self.seen_at is None and not self._stop.is_set():
            try:
                if _rs_key_count(self.rs) == self.count:
                    self.seen_at = time.time()
            except (httpx2.HTTPError, ValueError, KeyError):
                pass  # asked again; never seen fails the test
            self._stop.wait(0.1)


def test_a_planned_rotation_costs_no_call_a_401_on_the_resource_server(
    issuer: LiveServer, rs: LiveServer
) -> None:
    assert rs.process is not None
    pid = rs.process.pid
    log_start = len(rs.log())
    grant = _sign_in(rs)
    old_kid = _kid(grant.access_token)
    keys_before = _rs_keys_now(rs)
    refreshed: list[tuple[float, float, str]] = []  # (sent, answered, kid)
    with (
        Caller(rs.mcp_url, grant.access_token) as caller,
        KeyWatch(rs, keys_before + 1) as watch,
    ):
        time.sleep(1.0)
        new_kid, signs_from = _rotate(issuer)
        published_at = signs_from - WINDOW  # the rotation's transaction
        assert new_kid != old_kid
        while time.time() < signs_from + 4 or len(refreshed) < 3:
            sent = time.time()
            grant = refresh(grant)
            refreshed.append((sent, time.time(), _kid(grant.access_token)))
            caller.tokens.append(grant.access_token)
            time.sleep(0.3)
            assert time.time() < signs_from + 30, "the new key never signed"
    in_view_at = watch.seen_at

    # Every call, with old tokens and new, before and after the switch: 200.
    statuses = {status for _at, _kid_, status in caller.calls}
    assert statuses == {200}, caller.refusals
    # Signed after `signs_from`: the new key; before it: the old one.
    kids = [kid for sent, _answered, kid in refreshed if sent > signs_from + 0.1]
    assert kids, refreshed
    assert set(kids) == {new_kid}, refreshed
    before = {kid for _sent, answered, kid in refreshed if answered < signs_from}
    assert before <= {old_kid}, refreshed
    new_calls = [at for at, kid, _ in caller.calls if kid == new_kid]
    assert len(new_calls) >= 3
    assert any(at > signs_from for at, kid, _ in caller.calls if kid == old_kid)
    # The RS had the new key before it signed anything, from its periodic
    # refetch: no token sent it refetching for an unknown kid.
    assert in_view_at is not None
    assert in_view_at < signs_from
    assert min(new_calls) > in_view_at
    assert UNKNOWN_KID_REFETCH not in rs.log()[log_start:]
    assert rs.process.poll() is None
    assert rs.process.pid == pid
    logger.info(
        "planned rotation: %d calls (%d with new-key tokens), all 200; the RS "
        "held the new key %.1f s after it was published (at the latest: its "
        "/readyz polled every 0.1 s), %.1f s before it signed",
        len(caller.calls),
        len(new_calls),
        in_view_at - published_at,
        signs_from - in_view_at,
    )

    # The check above can see a refetch: a forged kid starts one. (One that
    # arrives while a periodic fetch is in flight joins it instead, silently,
    # so this tries again after the refetch interval.)
    for _attempt in range(5):
        forged = call(rs.mcp_url, with_kid(grant.access_token, uuid.uuid4().hex))
        assert forged.status_code == 401
        time.sleep(UNKNOWN_INTERVAL + 0.5)
        if UNKNOWN_KID_REFETCH in rs.log()[log_start:]:
            break
    assert rs.log()[log_start:].count(UNKNOWN_KID_REFETCH) == 1


def test_an_immediate_rotation_refuses_the_old_keys_tokens_within_the_bound(
    issuer: LiveServer, rs: LiveServer
) -> None:
    """`--immediately` (a compromised key): its tokens are 401 on the RS soon."""
    grant = _sign_in(rs)
    old = grant.access_token
    assert call(rs.mcp_url, old).status_code == 200
    new_kid, withdrawn_at = _rotate(issuer, "--immediately")
    while (refused := call(rs.mcp_url, old)).status_code == 200:
        assert time.time() - withdrawn_at < REFUSAL_BOUND + 10, "never refused"
        time.sleep(0.05)
    delay = time.time() - withdrawn_at
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_token"
    assert refused.json()["error_description"] == "unknown signing key"
    assert delay <= REFUSAL_BOUND, delay
    # The client refreshes: the new key's token works on the RS at once.
    grant = refresh(grant)
    assert _kid(grant.access_token) == new_kid
    assert call(rs.mcp_url, grant.access_token).status_code == 200
    assert call(rs.mcp_url, old).status_code == 401
    logger.info("--immediately: old-key token refused on the RS after %.2f s", delay)

"""Concurrent refreshes of one token over real HTTP, with tokens hashed at rest.

Claude Code sessions sharing one login race each other to refresh it: every
one of them must get the same successor (two workers, so the requests
really run in parallel), and a replay after the grace window still revokes
the family.
"""

import threading
import time

import pytest
import requests

from harness.flow import sign_in
from harness.tokens import Grant, refresh_form
from tests.live_server import run_live_server

GRACE_SECONDS = 3
RACERS = 6


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with run_live_server(
        tmp_path_factory.mktemp("refresh-race"),
        workers=2,
        extra_env={"REFRESH_TOKEN_GRACE_SECONDS": str(GRACE_SECONDS)},
    ) as live:
        yield live


def _refresh(grant: Grant, refresh_token: str) -> requests.Response:
    with requests.Session() as session:
        return session.post(
            grant.discovery.metadata["token_endpoint"],
            data=refresh_form(client_id=grant.client_id, refresh_token=refresh_token),
            headers={"Connection": "close"},
            timeout=20,
        )


def test_racing_refreshes_of_one_token_all_get_the_same_successor(server):
    grant = sign_in(server.mcp_url, username="bob", password="demo", scope="tools:call")
    barrier = threading.Barrier(RACERS)
    answers: list[requests.Response] = []

    def race() -> None:
        barrier.wait()
        answers.append(_refresh(grant, grant.refresh_token))

    threads = [threading.Thread(target=race) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [a.status_code for a in answers] == [200] * RACERS, [a.text for a in answers]
    successors = {
        (a.json()["access_token"], a.json()["refresh_token"]) for a in answers
    }
    assert len(successors) == 1
    ((_access, successor),) = successors
    assert successor != grant.refresh_token

    # After the window, the old token is a replay: the family dies with it.
    time.sleep(GRACE_SECONDS + 0.5)
    replay = _refresh(grant, grant.refresh_token)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert _refresh(grant, successor).status_code == 400

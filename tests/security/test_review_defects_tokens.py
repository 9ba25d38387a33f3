"""Review defects of /token and /revoke (issue #14 item 4).

- Revoking a refresh token (RFC 7009) left the access tokens its grant
  issued before rotations accepted at /mcp: DOT deletes their rows, so no
  jti entry named them.
- Of racing redemptions of one code, the losers were audited as
  `code_reuse_detected` but the winner's token stayed valid.

What /mcp refuses is read from the revocation feed as a worker reads it.
"""

import time
from http import HTTPStatus

import jwt
import pytest
from django.test import Client

from audit.models import AuditEvent
from mcpserver.revocations import RevocationFeed, load_revocations
from oauth import generators
from oauth.models import Revocation
from tests.oauth import flow

pytestmark = pytest.mark.django_db


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def _refused_at_mcp(token: str) -> str | None:
    """What a worker's revocation feed says of `token` (None: accepted)."""
    claims = _claims(token)
    feed = RevocationFeed()
    feed.apply(load_revocations(after_id=None), full=True, started=time.monotonic())
    return feed.refusal(
        jti=claims["jti"],
        user_id=int(claims["sub"]),
        client_id=claims["client_id"],
        tenant_id=int(claims["tenant_id"]),
        issued_at=int(claims["iat"]),
    )


def _consent(browser: Client, client_id: str) -> tuple[flow.AuthorizationRequest, str]:
    auth = flow.start(client_id)
    return auth, flow.authorize_code(browser, auth)["code"]


def test_revoking_a_refresh_token_stops_every_access_token_of_its_grant(
    alice, public_client
):
    client_id = public_client["client_id"]
    auth, code = _consent(alice, client_id)
    first = flow.exchange(Client(), auth, code).json()
    second = flow.refresh(Client(), client_id, first["refresh_token"]).json()
    third = flow.refresh(Client(), client_id, second["refresh_token"]).json()
    other_auth, other_code = _consent(alice, client_id)  # another grant
    other = flow.exchange(Client(), other_auth, other_code).json()
    tokens = [first["access_token"], second["access_token"], third["access_token"]]
    assert [_refused_at_mcp(token) for token in tokens] == [None, None, None]

    response = Client().post(
        "/revoke", {"token": third["refresh_token"], "client_id": client_id}
    )

    assert response.status_code == HTTPStatus.OK
    assert [_refused_at_mcp(token) for token in tokens] == ["token revoked"] * 3
    assert _refused_at_mcp(other["access_token"]) is None
    assert Revocation.objects.filter(kind=Revocation.Kind.JTI).count() == 3
    (row,) = AuditEvent.objects.filter(event="token_revoked")
    assert row.reason == "refresh token revoked; 3 access tokens refused at /mcp"
    assert row.client_id == client_id
    refused = flow.refresh(Client(), client_id, third["refresh_token"])
    assert refused.status_code == HTTPStatus.BAD_REQUEST
    assert refused.json()["error"] == "invalid_grant"


def test_a_code_replayed_while_its_first_redemption_runs_issues_nothing(
    alice, public_client, monkeypatch
):
    """The loser is detected before the winner stores its token: no token at all."""
    auth, code = _consent(alice, public_client["client_id"])
    mint = generators.mint_access_token
    losers: list = []

    def mint_while_a_replay_arrives(**kwargs):
        if not losers:  # the winner, between claiming the code and storing
            losers.append(flow.exchange(Client(), auth, code))
        return mint(**kwargs)

    monkeypatch.setattr(generators, "mint_access_token", mint_while_a_replay_arrives)

    winner = flow.exchange(Client(), auth, code)

    (loser,) = losers
    assert loser.status_code == HTTPStatus.BAD_REQUEST
    assert loser.json()["error"] == "invalid_grant"
    assert winner.status_code == HTTPStatus.BAD_REQUEST
    assert winner.json()["error"] == "invalid_grant"
    assert winner["Cache-Control"] == "no-store"
    assert not AuditEvent.objects.filter(event="token_issued").exists()
    (row,) = AuditEvent.objects.filter(event="code_reuse_detected")
    assert row.outcome == "denied"
    assert (
        row.reason
        == "authorization code presented again; 0 access tokens refused at /mcp"
    )


def test_a_code_replayed_after_its_redemption_revokes_what_it_issued(
    alice, public_client
):
    auth, code = _consent(alice, public_client["client_id"])
    winner = flow.exchange(Client(), auth, code).json()
    refreshed = flow.refresh(
        Client(), public_client["client_id"], winner["refresh_token"]
    ).json()

    loser = flow.exchange(Client(), auth, code)

    assert loser.status_code == HTTPStatus.BAD_REQUEST
    assert loser.json()["error"] == "invalid_grant"
    assert _refused_at_mcp(winner["access_token"]) == "token revoked"
    assert _refused_at_mcp(refreshed["access_token"]) == "token revoked"
    (row,) = AuditEvent.objects.filter(event="code_reuse_detected")
    assert row.reason.startswith(
        "authorization code presented again; 2 access tokens refused at /mcp, family "
    )
    again = flow.refresh(
        Client(), public_client["client_id"], refreshed["refresh_token"]
    )
    assert again.status_code == HTTPStatus.BAD_REQUEST

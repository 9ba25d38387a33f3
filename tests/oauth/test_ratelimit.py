"""Per-address limits of /token and /register: 429, Retry-After, coalesced audit."""

import json
from http import HTTPStatus

import pytest
from django.test import Client

from audit.models import AuditEvent
from tests.oauth import flow

pytestmark = pytest.mark.django_db


def _token(address: str, client: Client | None = None, **form: str):
    body = {"grant_type": "authorization_code", "code": "nope", **form}
    return (client or Client()).post("/token", body, REMOTE_ADDR=address)


def _register(address: str):
    return Client().post(
        "/register",
        json.dumps(flow.CLAUDE_CODE_REGISTRATION),
        content_type="application/json",
        REMOTE_ADDR=address,
    )


def test_token_requests_over_the_limit_get_429_with_retry_after(settings):
    settings.OAUTH_TOKEN_RATE_PER_ADDRESS = 3
    answers = [_token("192.0.2.10").status_code for _ in range(3)]
    assert set(answers) == {HTTPStatus.UNAUTHORIZED}  # DOT's: no such client

    refused = _token("192.0.2.10")

    assert refused.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert refused["Retry-After"] == "55"  # the throttle clock is 5 s into a minute
    assert refused["Cache-Control"] == "no-store"
    assert refused.json() == {
        "error": "too_many_requests",
        "error_description": (
            "More than 3 requests a minute to /token from 192.0.2.10; retry in 55 s."
        ),
    }
    assert _token("192.0.2.11").status_code == HTTPStatus.UNAUTHORIZED


def test_the_limit_counts_every_token_request_and_a_real_exchange_still_works(
    public_client, alice, settings
):
    settings.OAUTH_TOKEN_RATE_PER_ADDRESS = 2
    auth = flow.start(public_client["client_id"])
    code = flow.authorize_code(alice, auth)["code"]
    assert flow.exchange(Client(), auth, code).status_code == HTTPStatus.OK
    assert _token("127.0.0.1").status_code == HTTPStatus.UNAUTHORIZED

    assert _token("127.0.0.1").status_code == HTTPStatus.TOO_MANY_REQUESTS


def test_a_flood_of_refusals_leaves_one_audit_row_a_window(settings, throttle_clock):
    settings.OAUTH_TOKEN_RATE_PER_ADDRESS = 2
    for _ in range(12):
        _token("192.0.2.20")
    throttle_clock.append(throttle_clock[-1] + 60)
    for _ in range(4):
        _token("192.0.2.20")

    rows = list(AuditEvent.objects.filter(outcome="denied").order_by("id"))

    assert [(row.event, row.source_ip) for row in rows] == [
        ("token_issued", "192.0.2.20"),
        ("token_issued", "192.0.2.20"),
    ]
    assert rows[0].reason == (
        "rate_limited: more than 2 requests a minute to /token from 192.0.2.20; "
        "refusing for 55 s (further refusals in this window not recorded)"
    )
    assert rows[0].arguments == {
        "endpoint": "/token",
        "limit": 2,
        "window_seconds": 60,
        "retry_after": 55,
        "refused_in_previous_window": 0,
    }
    assert rows[1].arguments["refused_in_previous_window"] == 10


def test_registration_refusals_are_audited_once_per_address_and_window(settings):
    settings.OAUTH_REGISTRATION_RATE_PER_ADDRESS = 1
    assert _register("192.0.2.30").status_code == HTTPStatus.CREATED
    for _ in range(5):
        refused = _register("192.0.2.30")
        assert refused.status_code == HTTPStatus.TOO_MANY_REQUESTS
        assert refused.json()["error"] == "too_many_requests"

    rows = AuditEvent.objects.filter(event="client_registered", outcome="denied")

    assert [(row.source_ip, row.arguments["endpoint"]) for row in rows] == [
        ("192.0.2.30", "/register")
    ]


def test_the_default_limits_leave_room_for_a_busy_address(settings):
    assert settings.OAUTH_TOKEN_RATE_PER_ADDRESS >= 600
    for _ in range(50):
        assert _token("192.0.2.40").status_code == HTTPStatus.UNAUTHORIZED

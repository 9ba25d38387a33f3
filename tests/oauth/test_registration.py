import json
from http import HTTPStatus

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import Application

from oauth.models import ClientProfile
from tests.oauth import flow

pytestmark = pytest.mark.django_db


def _post(body, **extra):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return Client().post("/register", data, content_type="application/json", **extra)


def test_claude_code_registration_echoes_every_field():
    response = _post(flow.CLAUDE_CODE_REGISTRATION)
    assert response.status_code == HTTPStatus.CREATED
    data = response.json()
    for key, value in flow.CLAUDE_CODE_REGISTRATION.items():
        assert data[key] == value, key
    assert isinstance(data["client_id_issued_at"], int)
    assert data["client_id"]
    assert "client_secret" not in data
    assert None not in data.values()
    assert response["Cache-Control"] == "no-store"


def test_confidential_registration_returns_a_secret():
    response = _post(
        {
            **flow.CLAUDE_CODE_REGISTRATION,
            "token_endpoint_auth_method": "client_secret_post",
        }
    )
    assert response.status_code == HTTPStatus.CREATED
    data = response.json()
    assert data["client_secret"]
    assert data["client_secret_expires_at"] == 0
    assert data["token_endpoint_auth_method"] == "client_secret_post"


@pytest.mark.parametrize(
    "uri",
    [
        "javascript:alert(1)",
        "data:text/html,hi",
        "http://localhost:3000/cb#frag",
        "http://evil.example/callback",
        "https://user:pw@example.com/cb",
        "not a uri",
    ],
)
def test_unsafe_redirect_uris_are_refused(uri):
    response = _post({**flow.CLAUDE_CODE_REGISTRATION, "redirect_uris": [uri]})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    body = response.json()
    assert body["error"] == "invalid_redirect_uri"
    assert body["error_description"]


@pytest.mark.parametrize(
    "uri",
    ["https://app.example.com/cb", "http://127.0.0.1/cb", "http://[::1]:8080/cb"],
)
def test_https_and_loopback_redirect_uris_are_accepted(uri):
    assert _post(
        {**flow.CLAUDE_CODE_REGISTRATION, "redirect_uris": [uri]}
    ).status_code == (HTTPStatus.CREATED)


def test_malformed_bodies_get_invalid_client_metadata():
    for body in [
        "{not json",
        "[]",
        {
            "redirect_uris": ["https://a.example/cb"],
            "grant_types": ["password", "authorization_code"],
        },
    ]:
        response = _post(body)
        assert response.status_code == HTTPStatus.BAD_REQUEST
        assert response.json()["error"] in {
            "invalid_client_metadata",
            "invalid_redirect_uri",
        }


def test_oversized_registration_is_refused(settings):
    settings.OAUTH_REGISTRATION_MAX_BYTES = 200
    response = _post({**flow.CLAUDE_CODE_REGISTRATION, "client_name": "x" * 300})
    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert response.json()["error"] == "invalid_client_metadata"


def test_registration_is_rate_limited_per_address_and_globally(settings):
    settings.OAUTH_REGISTRATION_RATE_PER_ADDRESS = 2
    settings.OAUTH_REGISTRATION_RATE_GLOBAL = 3
    ok = [
        _post(flow.CLAUDE_CODE_REGISTRATION, REMOTE_ADDR="10.0.0.1") for _ in range(2)
    ]
    assert all(r.status_code == HTTPStatus.CREATED for r in ok)
    limited = _post(flow.CLAUDE_CODE_REGISTRATION, REMOTE_ADDR="10.0.0.1")
    assert limited.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert limited.json()["error"] == "too_many_requests"
    assert limited["Retry-After"] == "55"  # the throttle clock is 5 s into a minute
    # Another address still has its own budget, until the global one runs out.
    assert (
        _post(flow.CLAUDE_CODE_REGISTRATION, REMOTE_ADDR="10.0.0.2").status_code == 201
    )
    assert (
        _post(flow.CLAUDE_CODE_REGISTRATION, REMOTE_ADDR="10.0.0.3").status_code == 429
    )


def test_registered_scope_grants_nothing_by_itself(bob):
    registration = flow.register(Client(), scope="tools:call admin")
    auth = flow.start(registration["client_id"], scope="tools:call admin")
    params = flow.authorize_code(bob, auth)
    token = flow.exchange(Client(), auth, params["code"]).json()
    assert token["scope"] == "tools:call"


def test_unused_registrations_expire_and_are_refused(alice):
    registration = flow.register(Client())
    ClientProfile.objects.filter(
        application__client_id=registration["client_id"]
    ).update(expires_at=timezone.now() - timezone.timedelta(seconds=1))
    auth = flow.start(registration["client_id"])
    response = alice.get(auth.url)
    assert response.status_code == HTTPStatus.BAD_REQUEST  # unknown client, no redirect
    out = __import__("io").StringIO()
    call_command("cleanup_clients", stdout=out)
    assert "1" in out.getvalue()
    assert not Application.objects.filter(client_id=registration["client_id"]).exists()


def test_a_used_registration_does_not_expire(alice):
    registration = flow.register(Client())
    auth = flow.start(registration["client_id"])
    params = flow.authorize_code(alice, auth)
    assert flow.exchange(Client(), auth, params["code"]).status_code == HTTPStatus.OK
    profile = ClientProfile.objects.get(
        application__client_id=registration["client_id"]
    )
    assert profile.first_used_at is not None
    assert profile.expires_at is None
    call_command("cleanup_clients", stdout=__import__("io").StringIO())
    assert Application.objects.filter(client_id=registration["client_id"]).exists()


def test_rfc7592_update_keeps_a_public_client_public(demo):
    registration = flow.register(Client())
    token = registration["registration_access_token"]
    response = Client().put(
        f"/register/{registration['client_id']}",
        json.dumps(
            {"redirect_uris": ["http://localhost:1234/cb"], "client_name": "Renamed"}
        ),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == HTTPStatus.OK, response.content
    assert response.json()["token_endpoint_auth_method"] == "none"
    assert (
        Application.objects.get(client_id=registration["client_id"]).client_type
        == "public"
    )

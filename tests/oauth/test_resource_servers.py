"""Registered resource servers: the command, the client it makes, the tokens.

An operator registers a resource server; tokens may then be requested for
it (and for nothing unregistered or disabled), each token's `aud` is
exactly the resource it was requested for, and a refresh keeps it.
"""

import asyncio
import base64
from http import HTTPStatus
from io import StringIO

import jwt
import pytest
from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.core.management import CommandError, call_command
from django.test import Client
from oauth2_provider.models import get_application_model

from audit.models import AuditEvent
from harness.pages import parse_page
from oauth.models import ClientProfile, ResourceServer
from tests.mcpserver.conftest import post_rpc, running_app
from tests.oauth import flow

RS = "https://rs.example.com/mcp"


def _register(*args: str) -> list[str]:
    out = StringIO()
    call_command("register_resource_server", *args, stdout=out)
    return out.getvalue().splitlines()


def _credentials(lines: list[str]) -> tuple[str, str]:
    id_line, secret_line = lines[-2:]
    assert id_line.startswith("MCP_AUTHORIZATION_SERVER_CLIENT_ID=")
    assert secret_line.startswith("MCP_AUTHORIZATION_SERVER_CLIENT_SECRET=")
    return id_line.split("=", 1)[1], secret_line.split("=", 1)[1]


def _claims(token: str) -> dict:
    jwks = Client().get("/.well-known/jwks.json").json()
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in jwks["keys"] if k["kid"] == kid)
    return jwt.decode(
        token, jwt.PyJWK(key).key, algorithms=["RS256"], options={"verify_aud": False}
    )


def _tokens(browser: Client, client_id: str, resource: str) -> dict:
    auth = flow.start(client_id, resource=resource)
    params = flow.authorize_code(browser, auth)
    response = flow.exchange(Client(), auth, params["code"])
    assert response.status_code == HTTPStatus.OK, response.content
    return response.json()


# --- the command ------------------------------------------------------------
@pytest.mark.django_db
def test_the_command_prints_the_client_it_created_last():
    lines = _register("--resource", "HTTPS://RS.Example.com:443/mcp/", "--name", "RS")
    client_id, secret = _credentials(lines)

    server = ResourceServer.objects.get()
    assert server.resource == RS
    assert server.name == "RS"
    assert server.enabled
    application = server.application
    assert application.client_id == client_id
    assert application.client_type == "confidential"
    assert application.authorization_grant_type == "client-credentials"
    assert ClientProfile.objects.get(application=application).is_resource_server
    # Stored hashed: the printed secret is nowhere in the database.
    assert application.client_secret != secret
    assert check_password(secret, application.client_secret)
    assert AuditEvent.objects.filter(
        event="admin_action", client_id=client_id, reason__contains=RS
    ).exists()


@pytest.mark.django_db
def test_the_printed_credentials_introspect_a_token(alice, public_client):
    client_id, secret = _credentials(_register("--resource", RS))
    token = _tokens(alice, public_client["client_id"], RS)["access_token"]
    response = Client().post(
        "/introspect", {"token": token}, headers=_basic(client_id, secret)
    )
    assert response.status_code == HTTPStatus.OK, response.content
    assert response.json()["active"] is True
    assert response.json()["aud"] == RS


def _basic(client_id: str, secret: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


@pytest.mark.django_db
def test_registering_a_registered_resource_again_fails_and_creates_nothing():
    client_id, _secret = _credentials(_register("--resource", RS))
    with pytest.raises(CommandError, match="already registered") as raised:
        _register("--resource", RS + "/")
    assert "\n" not in str(raised.value)
    assert client_id in str(raised.value)
    assert get_application_model().objects.count() == 1
    assert ResourceServer.objects.count() == 1


@pytest.mark.django_db
def test_rotate_secret_replaces_the_secret_of_the_same_client():
    client_id, old = _credentials(_register("--resource", RS))
    new_id, new = _credentials(_register("--resource", RS, "--rotate-secret"))
    assert new_id == client_id
    assert new != old
    stored = get_application_model().objects.get(client_id=client_id).client_secret
    assert check_password(new, stored)
    assert not check_password(old, stored)
    assert get_application_model().objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://rs.example.com/mcp", "https"),
        ("https://rs.example.com/mcp?x=1", "query"),
        ("https://rs.example.com/mcp#f", "fragment"),
        ("https://user@rs.example.com/mcp", "user info"),
        ("rs.example.com/mcp", "no host"),
    ],
)
def test_a_resource_that_cannot_be_canonical_is_refused(url, reason):
    with pytest.raises(CommandError, match=reason):
        _register("--resource", url)
    assert not ResourceServer.objects.exists()


@pytest.mark.django_db
def test_our_own_mcp_is_not_registered():
    with pytest.raises(CommandError, match="own /mcp"):
        _register("--resource", settings.MCP_RESOURCE_URL + "/")
    assert not ResourceServer.objects.exists()


@pytest.mark.django_db
def test_rotating_the_secret_of_an_unregistered_resource_fails():
    with pytest.raises(CommandError, match="not registered"):
        _register("--resource", RS, "--rotate-secret")
    assert not get_application_model().objects.exists()


@pytest.mark.django_db
def test_http_is_accepted_on_loopback_only():
    _register("--resource", "http://127.0.0.1:9000/mcp")
    _register("--resource", "http://LOCALHOST:9001/")
    assert set(ResourceServer.objects.values_list("resource", flat=True)) == {
        "http://127.0.0.1:9000/mcp",
        "http://localhost:9001",
    }


# --- /authorize and /token --------------------------------------------------
@pytest.mark.django_db
def test_a_token_for_a_registered_resource_is_for_it_alone(alice, public_client):
    _register("--resource", RS)
    body = _tokens(alice, public_client["client_id"], RS)
    assert _claims(body["access_token"])["aud"] == RS

    refreshed = flow.refresh(
        Client(), public_client["client_id"], body["refresh_token"]
    )
    assert refreshed.status_code == HTTPStatus.OK, refreshed.content
    assert _claims(refreshed.json()["access_token"])["aud"] == RS


@pytest.mark.django_db
def test_the_consent_page_names_the_resource_server(alice, public_client):
    _register("--resource", RS, "--name", "Reports MCP")
    theirs = flow.start(public_client["client_id"], resource=RS)
    page, _answer = flow.consent(alice, theirs, allow=False)
    assert parse_page(page.text).details["For use at"] == f"Reports MCP ({RS})"
    ours = flow.start(public_client["client_id"])
    page, _answer = flow.consent(alice, ours, allow=False)
    assert parse_page(page.text).details["For use at"] == (
        f"this server's MCP endpoint ({settings.MCP_RESOURCE_URL})"
    )


@pytest.mark.django_db
def test_our_own_mcp_remains_the_default_resource(alice, public_client):
    _register("--resource", RS)
    body = _tokens(alice, public_client["client_id"], settings.MCP_RESOURCE_URL)
    assert _claims(body["access_token"])["aud"] == settings.MCP_RESOURCE_URL
    refreshed = flow.refresh(
        Client(), public_client["client_id"], body["refresh_token"]
    )
    assert _claims(refreshed.json()["access_token"])["aud"] == (
        settings.MCP_RESOURCE_URL
    )


@pytest.mark.django_db
@pytest.mark.parametrize("state", ["unregistered", "disabled"])
def test_authorize_refuses_a_resource_not_registered_and_enabled(
    alice, public_client, state
):
    if state == "disabled":
        _register("--resource", RS)
        ResourceServer.objects.update(enabled=False)
    auth = flow.start(public_client["client_id"], resource=RS)
    params = flow.redirect_params(alice.get(auth.url))
    assert params["error"] == "invalid_target"
    assert params["state"] == auth.state


@pytest.mark.django_db
def test_authorize_refuses_two_resources_in_one_request(alice, public_client):
    _register("--resource", RS)
    auth = flow.start(public_client["client_id"], resource=RS)
    url = auth.url + "&resource=" + settings.MCP_RESOURCE_URL
    params = flow.redirect_params(alice.get(url))
    assert params["error"] == "invalid_target"


@pytest.mark.django_db
@pytest.mark.parametrize("state", ["unregistered", "disabled"])
def test_token_refuses_a_resource_not_registered_and_enabled(
    alice, public_client, state
):
    other = "https://other.example.com/mcp"
    _register("--resource", RS)
    if state == "disabled":
        _register("--resource", other)
        ResourceServer.objects.filter(resource=other).update(enabled=False)
    auth = flow.start(public_client["client_id"])
    params = flow.authorize_code(alice, auth)
    response = flow.exchange(Client(), auth, params["code"], resource=other)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == "invalid_target"
    # The code was not used up: the right resource still redeems it.
    retry = flow.exchange(Client(), auth, params["code"])
    assert retry.status_code == HTTPStatus.OK, retry.content


@pytest.mark.django_db
@pytest.mark.parametrize("other", [RS, "https://unregistered.example.com/mcp"])
def test_a_refresh_cannot_switch_resource(alice, public_client, other):
    _register("--resource", RS)
    body = _tokens(alice, public_client["client_id"], settings.MCP_RESOURCE_URL)
    response = flow.refresh(
        Client(), public_client["client_id"], body["refresh_token"], resource=other
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == "invalid_target"


@pytest.mark.django_db
def test_a_disabled_resource_gets_no_more_refreshes(alice, public_client):
    _register("--resource", RS)
    body = _tokens(alice, public_client["client_id"], RS)
    ResourceServer.objects.update(enabled=False)
    response = flow.refresh(Client(), public_client["client_id"], body["refresh_token"])
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == "invalid_target"


@pytest.mark.django_db
def test_our_protected_resource_metadata_is_unchanged(public_client):
    _register("--resource", RS)
    for path in (
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ):
        metadata = Client().get(path).json()
        assert metadata["resource"] == settings.MCP_RESOURCE_URL
        assert metadata["authorization_servers"] == [settings.PUBLIC_URL]


# --- our own /mcp -----------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_our_mcp_refuses_a_token_for_another_resource(alice, public_client):
    _register("--resource", RS)
    theirs = _tokens(alice, public_client["client_id"], RS)["access_token"]
    ours = _tokens(alice, public_client["client_id"], settings.MCP_RESOURCE_URL)

    async def statuses() -> tuple[int, int]:
        async with running_app():
            refused = await post_rpc(theirs, "tools/list")
            accepted = await post_rpc(ours["access_token"], "tools/list")
        return refused.status_code, accepted.status_code

    assert asyncio.run(statuses()) == (HTTPStatus.UNAUTHORIZED, HTTPStatus.OK)

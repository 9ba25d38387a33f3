"""Kill switches reach /mcp: the running app refuses what the console stopped.

Runs the real ASGI application in process (tests/mcpserver/conftest.py),
with its revocation poller and policy cache, and drives the console with
Django's test client from the database thread.
"""

import asyncio
from http import HTTPStatus

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from oauth2_provider.models import get_application_model

from accounts.models import User
from mcpserver.db import run_db
from tenants.models import TenantTool
from tests.console.conftest import issue_token
from tests.mcpserver.conftest import Demo, call_params, post_rpc

pytestmark = pytest.mark.django_db(transaction=True)


def _confirm_action(username: str, changelist: str, action: str, pk: int) -> int:
    client = Client()
    client.force_login(User.objects.get(username=username))
    response = client.post(
        reverse(f"admin:{changelist}_changelist"),
        {"action": action, "_selected_action": [pk], "post": "yes"},
    )
    return response.status_code


def _issue(client_id: str, username: str, tenant: str) -> str:
    application = get_application_model().objects.get(client_id=client_id)
    return issue_token(application, username, tenant)


async def _status(token: str) -> int:
    return (await post_rpc(token, "tools/list")).status_code


async def test_a_client_revoked_by_a_tenant_admin_is_refused_in_their_tenant(
    mcp_app: Demo,
) -> None:
    in_a = await run_db(_issue, mcp_app.client_id, "bob", "tenant-a")
    in_b = await run_db(_issue, mcp_app.client_id, "carol", "tenant-b")
    assert await _status(in_a) == HTTPStatus.OK
    assert await _status(in_b) == HTTPStatus.OK

    application = await run_db(
        get_application_model().objects.get, client_id=mcp_app.client_id
    )
    done = await run_db(
        _confirm_action,
        "alice",
        "oauth2_provider_application",
        "revoke_client_tokens",
        application.pk,
    )
    assert done == HTTPStatus.FOUND
    await asyncio.sleep(1.0)
    assert await _status(in_a) == HTTPStatus.UNAUTHORIZED
    assert await _status(in_b) == HTTPStatus.OK


def _drop_access_rows(token: str) -> None:
    """What a refresh leaves: the JWT lives on, its access-token row is gone."""
    from oauth2_provider.models import AccessToken, RefreshToken

    from oauth.token_hashing import stored_form

    stored = stored_form(token)
    RefreshToken.objects.filter(access_token__token=stored).update(access_token=None)
    AccessToken.objects.filter(token=stored).delete()


async def test_a_tenant_admins_revoke_reaches_tokens_whose_rows_are_gone(
    mcp_app: Demo,
) -> None:
    """A tenant-scoped feed entry, not only jtis: superseded tokens die too."""
    in_a = await run_db(_issue, mcp_app.client_id, "bob", "tenant-a")
    in_b = await run_db(_issue, mcp_app.client_id, "carol", "tenant-b")
    await run_db(_drop_access_rows, in_a)
    await run_db(_drop_access_rows, in_b)
    assert await _status(in_a) == HTTPStatus.OK

    application = await run_db(
        get_application_model().objects.get, client_id=mcp_app.client_id
    )
    done = await run_db(
        _confirm_action,
        "alice",
        "oauth2_provider_application",
        "revoke_client_tokens",
        application.pk,
    )
    assert done == HTTPStatus.FOUND
    await asyncio.sleep(1.0)
    assert await _status(in_a) == HTTPStatus.UNAUTHORIZED
    assert await _status(in_b) == HTTPStatus.OK


async def test_a_client_disabled_by_a_superuser_is_refused_everywhere(
    mcp_app: Demo,
) -> None:
    token = await mcp_app.atoken("carol")
    assert await _status(token) == HTTPStatus.OK
    await run_db(
        lambda: User.objects.create_superuser("root", "root@example.com", "pw")
    )
    application = await run_db(
        get_application_model().objects.get, client_id=mcp_app.client_id
    )
    await run_db(
        _confirm_action,
        "root",
        "oauth2_provider_application",
        "disable_clients",
        application.pk,
    )
    await asyncio.sleep(1.0)
    assert await _status(token) == HTTPStatus.UNAUTHORIZED


def _tool_names(response) -> set[str]:
    return {tool["name"] for tool in response.json()["result"]["tools"]}


async def test_a_tool_disabled_for_a_tenant_leaves_it_within_a_second(
    mcp_app: Demo,
) -> None:
    assert settings.MCP_POLICY_CACHE_SECONDS <= 1.0
    token = await mcp_app.atoken("alice")
    assert "echo" in _tool_names(await post_rpc(token, "tools/list"))
    echo_a = await run_db(
        TenantTool.objects.get, tenant__slug="tenant-a", tool__name="echo"
    )
    await run_db(
        _confirm_action, "alice", "tenants_tenanttool", "disable_tools", echo_a.pk
    )
    await asyncio.sleep(1.0)  # the promise: every worker within a second
    assert "echo" not in _tool_names(await post_rpc(token, "tools/list"))
    call = await post_rpc(token, "tools/call", call_params("echo", message="hi"))
    assert call.json()["error"]["message"] == "Unknown tool: echo"
    other = await mcp_app.atoken("carol")
    assert "echo" in _tool_names(await post_rpc(other, "tools/list"))

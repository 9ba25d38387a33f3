"""A role or tool-policy change in the console reaches live tokens (issue #14).

The review demoted an administrator in the admin and kept calling with
the `admin` token issued before: it was accepted until it expired. Both
changes must reach /mcp within a second and be audited as `admin_action`
with the field's value before and after. Runs the real ASGI application in
process (its revocation poller and policy cache) and drives the console
with Django's test client from the database thread.
"""

import asyncio
import time
from http import HTTPStatus
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from audit.models import AuditEvent
from mcpserver.db import run_db
from tenants.models import Document, Membership, TenantTool
from tests.console.conftest import change_form_data
from tests.factories import UserFactory
from tests.mcpserver.conftest import (
    Demo,
    _fresh_process_state,
    call_params,
    demo,
    mcp_app,
    post_rpc,
)

__all__ = ["_fresh_process_state", "demo", "mcp_app"]  # fixtures, for pytest

pytestmark = pytest.mark.django_db(transaction=True)


def _change_in_console(username: str, obj: Any, **changes: Any) -> None:
    """POST the object's change form as `username`, with `changes`."""
    if username == "root":
        UserFactory(username="root", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(User.objects.get(username=username))
    meta = obj._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
    response = client.post(url, {**change_form_data(client, url), **changes})
    assert response.status_code == HTTPStatus.FOUND


def _admin_actions() -> list[dict[str, Any]]:
    return list(
        AuditEvent.objects.filter(event="admin_action")
        .order_by("id")
        .values("user__username", "tenant__slug", "arguments")
    )


async def _within_a_second(token: str, method: str, params: Any, status: int) -> float:
    """Seconds until `token`'s call is answered `status` (fails after 1.5 s)."""
    started = time.monotonic()
    while time.monotonic() - started < 1.5:
        response = await post_rpc(token, method, params)
        if response.status_code == status:
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    pytest.fail(f"still {response.status_code}: {response.text[:200]}")


async def test_a_demoted_administrators_admin_token_stops_within_a_second(
    mcp_app: Demo,
) -> None:
    admin_token = await mcp_app.atoken("alice", ["tools:call", "admin"])
    plain_token = await mcp_app.atoken("alice", ["tools:call"])
    assert (await post_rpc(admin_token, "tools/list")).status_code == HTTPStatus.OK
    membership = await run_db(Membership.objects.get, user__username="alice")
    documents = await run_db(Document.objects.count)

    await run_db(_change_in_console, "root", membership, role="member")

    await _within_a_second(admin_token, "tools/list", None, HTTPStatus.UNAUTHORIZED)
    refused = await post_rpc(
        admin_token, "tools/call", call_params("admin_purge", confirm=True)
    )
    assert refused.status_code == HTTPStatus.UNAUTHORIZED
    assert refused.headers["www-authenticate"].startswith(
        'Bearer error="invalid_token"'
    )
    assert refused.json()["error"] == "invalid_token"
    assert (await post_rpc(plain_token, "tools/list")).status_code == HTTPStatus.OK
    assert await run_db(Document.objects.count) == documents

    actions = await run_db(_admin_actions)
    assert [row["arguments"]["changes"] for row in actions] == [
        {"role": {"before": "admin", "after": "member"}}
    ]
    assert actions[0]["user__username"] == "root"
    assert actions[0]["tenant__slug"] == "tenant-a"
    purged = await run_db(
        AuditEvent.objects.filter(event="tool_called", tool="admin_purge").exists
    )
    assert not purged


async def test_a_tool_policy_change_reaches_live_tokens_within_a_second(
    mcp_app: Demo,
) -> None:
    token = await mcp_app.atoken("bob")
    echo = call_params("echo", message="hi")
    assert (await post_rpc(token, "tools/call", echo)).status_code == HTTPStatus.OK
    policy = await run_db(
        TenantTool.objects.get, tenant__slug="tenant-a", tool__name="echo"
    )

    await run_db(_change_in_console, "alice", policy, extra_scopes="admin")

    await _within_a_second(token, "tools/call", echo, HTTPStatus.FORBIDDEN)
    actions = await run_db(_admin_actions)
    assert [row["arguments"]["changes"] for row in actions] == [
        {"extra_scopes": {"before": "", "after": "admin"}}
    ]
    assert actions[0]["user__username"] == "alice"

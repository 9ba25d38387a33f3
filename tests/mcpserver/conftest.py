"""Fixtures for /mcp: the demo data, tokens, the running app, HTTP clients.

Tests that use `demo` run on a transactional database: the MCP app reads
and writes from its own database threads, which must see committed rows.
"""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
from django.conf import settings
from oauth2_provider.models import get_application_model

from accounts.models import User
from config.asgi import application
from mcpserver.auth import reset_process_state
from mcpserver.db import run_db
from mcpserver.policy import clear_policy_cache
from oauth.keys import active_signing_key
from oauth.tokens import MintedToken, mint_access_token
from tenants.demo import seed_demo_data
from tenants.models import Tenant

CLIENT_ID = "test-client"
LEGACY = "2025-11-25"
MODERN = "2026-07-28"
ACCEPT = "application/json, text/event-stream"


@dataclass(frozen=True)
class Demo:
    users: dict[str, User]
    tenants: dict[str, Tenant]
    client_id: str

    def token(
        self,
        username: str,
        scopes: list[str] | tuple[str, ...] = ("tools:call",),
        *,
        tenant: str | None = None,
        client_id: str | None = None,
        **kwargs: Any,
    ) -> str:
        """Mint a token for a demo user (sync: call from fixtures or threads)."""
        return self.minted(
            username, scopes, tenant=tenant, client_id=client_id, **kwargs
        ).token

    async def atoken(self, username: str, *args: Any, **kwargs: Any) -> str:
        """`token` from async code (minting reads the database)."""
        return await run_db(self.token, username, *args, **kwargs)

    def minted(
        self,
        username: str,
        scopes: list[str] | tuple[str, ...] = ("tools:call",),
        *,
        tenant: str | None = None,
        client_id: str | None = None,
        **kwargs: Any,
    ) -> MintedToken:
        user = self.users[username]
        slug = tenant or user.memberships.get().tenant.slug
        return mint_access_token(
            user_id=user.pk,
            client_id=client_id or self.client_id,
            scopes=list(scopes),
            tenant_id=self.tenants[slug].pk,
            tenant_slug=slug,
            **kwargs,
        )


@pytest.fixture
def demo(transactional_db: None) -> Demo:
    """The seeded demo tenants and users, an OAuth client and a signing key."""
    seed_demo_data()
    application_model = get_application_model()
    application_model.objects.create(
        client_id=CLIENT_ID,
        name="Test client",
        client_type=application_model.CLIENT_PUBLIC,
        authorization_grant_type=application_model.GRANT_AUTHORIZATION_CODE,
        redirect_uris="http://127.0.0.1:9999/callback",
    )
    active_signing_key()
    return Demo(
        users={
            user.username: user
            for user in User.objects.filter(username__in=["alice", "bob", "carol"])
        },
        tenants={tenant.slug: tenant for tenant in Tenant.objects.all()},
        client_id=CLIENT_ID,
    )


@pytest.fixture(autouse=True)
def _fresh_process_state() -> None:
    reset_process_state()
    clear_policy_cache()


@contextlib.asynccontextmanager
async def running_app() -> AsyncIterator[None]:
    """Run the ASGI lifespan (as a server would) in a task of its own."""
    inbox: asyncio.Queue[dict] = asyncio.Queue()
    outbox: asyncio.Queue[dict] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    task = asyncio.create_task(
        application(
            {"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, outbox.put
        )
    )
    started = await outbox.get()
    assert started["type"] == "lifespan.startup.complete", started
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        stopped = await outbox.get()
        await task
        assert stopped["type"] == "lifespan.shutdown.complete", stopped


@pytest.fixture
async def mcp_app(demo: Demo) -> AsyncIterator[Demo]:
    """The running application (MCP session manager and poller), with demo data."""
    async with running_app():
        yield demo


def http_client(token: str | None = None, **headers: str) -> httpx2.AsyncClient:
    """An in-process HTTP client for the one ASGI application."""
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=application),
        base_url=settings.PUBLIC_URL,
        headers=headers,
        timeout=30,
    )


def rpc_headers(version: str = LEGACY, **extra: str) -> dict[str, str]:
    return {
        "Accept": ACCEPT,
        "Content-Type": "application/json",
        "MCP-Protocol-Version": version,
        **extra,
    }


def rpc_body(
    method: str, params: dict[str, Any] | None = None, *, request_id: Any = 1
) -> dict[str, Any]:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        body["params"] = params
    return body


async def post_rpc(
    token: str | None,
    method: str,
    params: dict[str, Any] | None = None,
    *,
    version: str = LEGACY,
    request_id: Any = 1,
    headers: dict[str, str] | None = None,
) -> httpx2.Response:
    """POST one JSON-RPC request the way a client of `version` would."""
    params = dict(params or {})
    extra = dict(headers or {})
    if version == MODERN:
        params["_meta"] = {
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {},
        }
        extra.setdefault("Mcp-Method", method)
        if method == "tools/call":
            extra.setdefault("Mcp-Name", params["name"])
    async with http_client(token) as client:
        return await client.post(
            "/mcp",
            content=json.dumps(rpc_body(method, params or None, request_id=request_id)),
            headers=rpc_headers(version, **extra),
        )


def call_params(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}

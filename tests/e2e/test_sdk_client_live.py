"""The official Python SDK client connects from nothing, headless.

`OAuthClientProvider` gets a 401 from /mcp, discovers the resource and
authorization-server metadata, registers, and sends the user to /authorize;
the redirect handler here is the "browser": harness/consent_walk.py's
`approve_in_browser` signs in through the real login form (with its CSRF
token) and approves the consent form, and the handler hands the code (with
`state` and `iss`) back to the SDK, which checks both.
"""

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.auth import OAuthClientProvider, TokenStorage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)

from harness.authorization import query_params
from harness.consent_walk import Approval, approve_in_browser
from tests.live_server import run_live_server

CALLBACK = "http://localhost:47823/callback"


class MemoryStorage(TokenStorage):
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class HeadlessBrowser:
    """Signs in through the real forms and captures the redirect to CALLBACK."""

    def __init__(self, username: str, password: str = "demo") -> None:
        self.username = username
        self.password = password
        self.result: dict[str, str] = {}
        self.requested_scopes: list[str] = []

    async def redirect_handler(self, authorize_url: str) -> None:
        self.requested_scopes.append(query_params(authorize_url).get("scope", ""))
        approval = await anyio.to_thread.run_sync(self._approve, authorize_url)
        assert approval.consent is not None, "no login and consent pages"
        assert approval.callback.startswith(CALLBACK), approval.callback
        self.result = query_params(approval.callback)

    def _approve(self, authorize_url: str) -> Approval:
        """harness/consent_walk.py's browser walk, in a fresh cookie jar."""
        with httpx2.Client(timeout=20) as web:
            return approve_in_browser(
                web,
                authorize_url,
                redirect_uri=CALLBACK,
                username=self.username,
                password=self.password,
            )

    async def callback_handler(self) -> AuthorizationCodeResult:
        return AuthorizationCodeResult(
            code=self.result["code"],
            state=self.result.get("state"),
            iss=self.result.get("iss"),
        )


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with run_live_server(tmp_path_factory.mktemp("sdk-live")) as live:
        yield live


def _provider(server, browser: HeadlessBrowser, scope: str) -> OAuthClientProvider:
    return OAuthClientProvider(
        server_url=server.mcp_url,
        client_metadata=OAuthClientMetadata(
            client_name="SDK e2e",
            redirect_uris=[CALLBACK],
            grant_types=["authorization_code", "refresh_token"],
            token_endpoint_auth_method="none",
            scope=scope,
        ),
        storage=MemoryStorage(),
        redirect_handler=browser.redirect_handler,
        callback_handler=browser.callback_handler,
    )


async def test_the_sdk_client_connects_lists_and_calls_every_tool_of_alice(server):
    browser = HeadlessBrowser("alice")
    oauth = _provider(server, browser, "tools:call admin")
    async with (
        httpx2.AsyncClient(auth=oauth, timeout=30) as http,
        Client(streamable_http_client(server.mcp_url, http_client=http)) as client,
    ):
        tools = sorted(tool.name for tool in (await client.list_tools()).tools)
        assert tools == ["admin_purge", "echo", "search_documents"]
        echo = await client.call_tool("echo", {"message": "hi"})
        assert echo.content[0].text == "hi"
        assert not echo.is_error
        search = await client.call_tool("search_documents", {"query": "security"})
        assert not search.is_error
        assert "Security policy" in str(search.structured_content or search.content)
        purge = await client.call_tool("admin_purge", {"confirm": True})
        assert not purge.is_error
        assert "3" in str(purge.structured_content or purge.content)
    # The 401 challenge names tools:call, so the first login asks for that;
    # admin_purge then gets 403 insufficient_scope and the SDK steps up.
    assert [set(scope.split()) for scope in browser.requested_scopes] == [
        {"tools:call"},
        {"tools:call", "admin"},
    ]
    assert browser.result["iss"] == server.url


async def test_bob_steps_up_but_still_gets_403_for_admin_purge(server):
    from mcp.shared.exceptions import MCPError

    browser = HeadlessBrowser("bob")
    oauth = _provider(server, browser, "tools:call")
    async with (
        httpx2.AsyncClient(auth=oauth, timeout=30) as http,
        Client(streamable_http_client(server.mcp_url, http_client=http)) as client,
    ):
        tools = sorted(tool.name for tool in (await client.list_tools()).tools)
        assert tools == ["admin_purge", "echo", "search_documents"]
        with pytest.raises(MCPError) as denied:
            await client.call_tool("admin_purge", {"confirm": True})
        assert "admin" in str(denied.value.error.data)
        assert (await client.call_tool("echo", {"message": "still here"})).content[
            0
        ].text == "still here"
    assert len(browser.requested_scopes) == 2  # he tried, the login granted no admin


@pytest.fixture(scope="module")
def short_lived_server(tmp_path_factory):
    """Access tokens live 3 s here, so a client must refresh within a test."""
    with run_live_server(
        tmp_path_factory.mktemp("sdk-refresh"),
        extra_env={"ACCESS_TOKEN_LIFETIME_SECONDS": str(TOKEN_LIFETIME)},
    ) as live:
        yield live


TOKEN_LIFETIME = 3


async def test_the_sdk_refreshes_an_expired_token_without_a_new_login(
    short_lived_server,
):
    server = short_lived_server
    browser = HeadlessBrowser("carol")
    oauth = _provider(server, browser, "tools:call")
    storage = oauth.context.storage
    async with (
        httpx2.AsyncClient(auth=oauth, timeout=30) as http,
        Client(streamable_http_client(server.mcp_url, http_client=http)) as client,
    ):
        first = (await client.call_tool("echo", {"message": "one"})).content[0].text
        issued = storage.tokens
        assert issued.expires_in == TOKEN_LIFETIME
        assert issued.refresh_token
        await anyio.sleep(TOKEN_LIFETIME + 0.5)
        second = (await client.call_tool("echo", {"message": "two"})).content[0].text
    assert (first, second) == ("one", "two")
    refreshed = storage.tokens
    # A new access token and a rotated refresh token, with no second login.
    assert refreshed.access_token != issued.access_token
    assert refreshed.refresh_token not in (None, issued.refresh_token)
    assert len(browser.requested_scopes) == 1
    events = server.python(
        "-c",
        "import django; django.setup(); from audit.models import AuditEvent; "
        "print(' '.join(AuditEvent.objects.order_by('id')"
        ".values_list('event', flat=True)))",
    ).split()
    assert events.count("token_issued") == 1
    assert events.count("token_refreshed") == 1
    assert events.count("tool_called") == 2

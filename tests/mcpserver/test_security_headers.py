"""/mcp says nosniff on every answer, though Django's middleware never sees it.

The router (config/router.py) adds the header to the MCP app's responses:
the pipeline's refusals, the fast path's and the SDK's answers alike.
"""

from http import HTTPStatus

import pytest

from config.router import Router
from tests.mcpserver.conftest import Demo, call_params, http_client, post_rpc

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_refusal_says_nosniff(mcp_app: Demo) -> None:
    response = await post_rpc(None, "tools/list")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("method", "params"),
    [("tools/list", None), ("tools/call", call_params("echo", message="hi"))],
)
async def test_an_answer_says_nosniff(
    mcp_app: Demo, method: str, params: dict | None
) -> None:
    token = await mcp_app.atoken("alice")
    response = await post_rpc(token, method, params)
    assert response.status_code == HTTPStatus.OK
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_a_refused_method_says_nosniff(mcp_app: Demo) -> None:
    async with http_client() as client:
        response = await client.delete("/mcp")
    assert response.status_code >= HTTPStatus.BAD_REQUEST
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_a_header_the_app_set_is_kept_once() -> None:
    sent: list[dict] = []

    async def mcp_app(scope: dict, receive: object, send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"X-Content-Type-Options", b"nosniff")],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    async def send(message: dict) -> None:
        sent.append(message)

    router = Router(django_app=mcp_app, mcp_app=mcp_app)  # type: ignore[arg-type]
    await router({"type": "http", "path": "/mcp"}, None, send)  # type: ignore[arg-type]
    names = [name.lower() for name, _ in sent[0]["headers"]]
    assert names.count(b"x-content-type-options") == 1

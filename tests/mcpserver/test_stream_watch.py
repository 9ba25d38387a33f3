"""serve_while_authorized at the ASGI level, with real tokens and revocation.

What the client of a long response sees: a started stream is finished with
its final chunk once the token is revoked; an unstarted one is answered
401 with the RFC 6750 challenge; a handler's own error is raised as it
was, not wrapped by the watcher's task group.
"""

from http import HTTPStatus

import anyio
import pytest

from mcpserver import revocations
from mcpserver.asgi_types import Message
from mcpserver.auth import authenticate
from mcpserver.db import run_db
from mcpserver.stream_watch import serve_while_authorized
from oauth.tokens import revoke_jti
from tests.mcpserver.conftest import Demo

pytestmark = pytest.mark.django_db(transaction=True)

INTERVAL = 0.05


async def _receive() -> Message:
    await anyio.sleep_forever()
    raise AssertionError  # unreachable


async def _stream_forever(scope, receive, send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send(
        {"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True}
    )
    await anyio.sleep_forever()


async def _wait_forever(scope, receive, send) -> None:
    await anyio.sleep_forever()


async def _serve(handler, principal, revoke_after: float | None) -> list[Message]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def serve() -> None:
        with anyio.fail_after(10):
            await serve_while_authorized(
                handler, {}, _receive, send, principal, interval=INTERVAL
            )

    if revoke_after is None:
        await serve()
        return sent

    async def revoke() -> None:
        await anyio.sleep(revoke_after)
        await run_db(revoke_jti, jti=principal.jti)
        await revocations.refresh()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(revoke)
        await serve()
    return sent


@pytest.fixture
async def principal(demo: Demo):
    return await authenticate(await demo.atoken("carol"))


async def test_a_started_stream_is_finished_when_its_token_is_revoked(principal):
    sent = await _serve(_stream_forever, principal, revoke_after=0.2)

    assert [m["type"] for m in sent] == [
        "http.response.start",
        "http.response.body",
        "http.response.body",
    ]
    assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}


async def test_an_unstarted_response_is_answered_401_when_revoked(principal):
    sent = await _serve(_wait_forever, principal, revoke_after=0.2)

    assert sent[0]["status"] == HTTPStatus.UNAUTHORIZED
    headers = dict(sent[0]["headers"])
    assert headers[b"www-authenticate"].startswith(b'Bearer error="invalid_token"')
    assert b"token revoked" in sent[-1]["body"]


async def test_a_live_token_leaves_the_response_alone(principal):
    with anyio.move_on_after(0.5) as waited:
        await _serve(_stream_forever, principal, revoke_after=None)
    assert waited.cancelled_caught


async def test_the_handlers_own_error_is_raised_unwrapped(principal):
    async def broken(scope, receive, send) -> None:
        raise LookupError("handler bug")

    with pytest.raises(LookupError, match="handler bug"):
        await _serve(broken, principal, revoke_after=None)

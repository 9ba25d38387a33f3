"""Our own /mcp across a signing-key rotation: no 401 in between.

The in-process resource server reloads its keys with every poll of the
revocation feed (mcpserver/keystore.py): a pre-published key is loaded
before it signs, and the old key stays until its tokens expire.
"""

import time
from datetime import timedelta
from http import HTTPStatus

import anyio
import jwt
import pytest

from mcpserver import keystore, revocations
from mcpserver.db import run_db
from oauth.keys import rotate_signing_key
from tests.mcpserver.conftest import Demo, post_rpc

pytestmark = pytest.mark.django_db(transaction=True)


def _kid(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


async def _status(token: str) -> int:
    return (await post_rpc(token, "tools/list")).status_code


async def test_every_token_verifies_across_a_rotation(mcp_app: Demo) -> None:
    before = await mcp_app.atoken("carol")
    assert await _status(before) == HTTPStatus.OK
    new = await run_db(rotate_signing_key, activates_in=timedelta(seconds=1))
    await revocations.refresh()
    assert new.kid in keystore.KEYS.kids(), "loaded before it signs"

    tokens = [before]
    started = time.monotonic()
    while time.monotonic() - started < 1.6:
        tokens.append(await mcp_app.atoken("carol"))
        assert [await _status(token) for token in tokens[-2:]] == [HTTPStatus.OK] * 2
        await anyio.sleep(0.1)

    kids = [_kid(token) for token in tokens]
    assert kids[1] == kids[0] != new.kid, "the old key signs during the window"
    assert kids[-1] == new.kid, "the new key signs after it"
    assert all([await _status(token) == HTTPStatus.OK for token in tokens])


async def test_a_compromised_key_stops_verifying_at_once(mcp_app: Demo) -> None:
    before = await mcp_app.atoken("carol")
    assert await _status(before) == HTTPStatus.OK
    await run_db(rotate_signing_key, immediately=True)
    after = await mcp_app.atoken("carol")
    assert await _status(after) == HTTPStatus.OK
    await revocations.refresh()
    assert await _status(before) == HTTPStatus.UNAUTHORIZED

"""A real server: uvicorn with two workers on one SQLite file.

A token revoked by another process (writing the revocation feed in the same
database) is refused by both workers within one second. Which worker
answered is read from the audit log: each process appends to its own hash
chain (`chain_id` = host:pid).
"""

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import pytest
from django.conf import settings

SETUP = """
import json
import django
django.setup()
from oauth2_provider.models import get_application_model
from accounts.models import User
from oauth.tokens import mint_access_token
from tenants.services import seed_demo_data
seed_demo_data()
App = get_application_model()
App.objects.create(
    client_id="live-client", name="Live", client_type=App.CLIENT_PUBLIC,
    authorization_grant_type=App.GRANT_AUTHORIZATION_CODE,
    redirect_uris="http://127.0.0.1:9/callback",
)
membership = User.objects.get(username="carol").memberships.get()
minted = mint_access_token(
    user_id=membership.user_id, client_id="live-client", scopes=["tools:call"],
    tenant_id=membership.tenant_id, tenant_slug=membership.tenant.slug,
)
print(json.dumps({"token": minted.token, "jti": minted.claims["jti"]}))
"""

REVOKE = """
import json, sys, time
import django
django.setup()
from oauth.tokens import revoke_jti
revoke_jti(jti=sys.argv[1])
print(json.dumps({"committed_at": time.time()}))
"""

CALL = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "tools/call",
    "params": {"name": "echo", "arguments": {"message": "live"}},
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def uvicorn_workers(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], Path]]:
    port = _free_port()
    database = tmp_path / "live.sqlite3"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"sqlite:///{database}",
        "DJANGO_SECRET_KEY": "live-test-secret",
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "MCP_SESSIONS": "false",
        "MCP_REVOCATION_POLL_SECONDS": "0.5",
    }
    _run(env, "manage.py", "migrate", "--noinput")
    log = (tmp_path / "uvicorn.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "2",
            "--no-access-log",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, (tmp_path / "uvicorn.log").read_text()
            try:
                if httpx2.post(url, json=CALL, timeout=2).status_code == 401:
                    break
            except httpx2.TransportError:
                pass
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.1)
        yield url, env, database
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=15)
        log.close()


def _post(url: str, token: str) -> int:
    """One tools/call on a fresh connection; returns the HTTP status."""
    response = httpx2.post(
        url,
        json=CALL,
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2025-11-25",
        },
        timeout=10,
    )
    return response.status_code


def _chains(database: Path, event: str) -> set[str]:
    with sqlite3.connect(database, timeout=10) as db:
        rows = db.execute(
            "SELECT DISTINCT chain_id FROM audit_auditevent WHERE event = ?", (event,)
        )
        return {row[0] for row in rows}


def _burst(url: str, token: str, count: int = 16) -> list[int]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda _: _post(url, token), range(count)))


def test_a_revoked_token_is_refused_by_both_workers_within_a_second(
    uvicorn_workers: tuple[str, dict[str, str], Path],
) -> None:
    url, env, database = uvicorn_workers
    minted = json.loads(_run(env, "-c", SETUP).splitlines()[-1])
    token = minted["token"]

    deadline = time.monotonic() + 20
    while len(_chains(database, "tool_called")) < 2:
        assert set(_burst(url, token)) == {200}
        assert time.monotonic() < deadline, "one worker never answered"

    committed_at = json.loads(_run(env, "-c", REVOKE, minted["jti"]))["committed_at"]
    time.sleep(max(0.0, committed_at + 1.0 - time.time()))

    deadline = time.monotonic() + 20
    while len(_chains(database, "tool_denied")) < 2:
        assert set(_burst(url, token)) == {401}
        assert time.monotonic() < deadline, "one worker never refused"
    assert _chains(database, "tool_denied") == _chains(database, "tool_called")

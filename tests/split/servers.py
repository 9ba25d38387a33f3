"""A split deployment for live tests: an issuer and resource servers.

The issuer is an ordinary live server (tests/live_server.py: migrated,
seeded, its own uvicorn). A resource server is another uvicorn on the same
database with MCP_AUTHORIZATION_SERVER naming the issuer, its own
PUBLIC_URL and its own DJANGO_SECRET_KEY (so it could not even decrypt the
issuer's signing keys), and the client credentials of a confidential
client marked resource server.

`mint` is the one place the tests make tokens for a resource server: it
signs the claims of oauth/tokens.py with the issuer's key, in the issuer's
database, as /token does for a registered resource (issue #15 item 2), so
a test can shape claims and times; one test goes through the real flow
(register_resource_server, sign-in, consent, /token with `resource`).
"""

import base64
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from deploy.nodes import uvicorn_command
from tests.live_server import ROOT, LiveServer, free_port

CLIENT = """
import json, sys
import django
django.setup()
from oauth2_provider.models import get_application_model
from oauth.models import ClientProfile
App = get_application_model()
client_id, secret, is_rs = sys.argv[1], sys.argv[2], sys.argv[3] == "rs"
app = App.objects.create(
    client_id=client_id, client_secret=secret, name=client_id,
    client_type=App.CLIENT_CONFIDENTIAL if is_rs else App.CLIENT_PUBLIC,
    authorization_grant_type=App.GRANT_AUTHORIZATION_CODE,
    redirect_uris="http://127.0.0.1:9/callback",
)
ClientProfile.objects.create(application=app, is_resource_server=is_rs)
print(json.dumps({"client_id": client_id}))
"""

MINT = """
import json, sys, time, uuid
import django
django.setup()
from django.conf import settings
from accounts.models import User
from oauth.keys import sign_access_token
spec = json.loads(sys.argv[1])
membership = User.objects.get(username=spec.pop("username")).memberships.get()
now = int(time.time())
claims = {
    "iss": settings.PUBLIC_URL, "sub": str(membership.user_id),
    "client_id": "split-client", "scope": "tools:call",
    "tenant_id": str(membership.tenant_id), "tenant": membership.tenant.slug,
    "jti": uuid.uuid4().hex, "iat": now, "nbf": now, "exp": now + 900,
}
offsets = spec.pop("offsets", {})
for claim, offset in offsets.items():
    claims[claim] = now + offset
claims.update(spec)
claims = {key: value for key, value in claims.items() if value is not None}
print(json.dumps({"token": sign_access_token(claims), "claims": claims}))
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
    "params": {"name": "echo", "arguments": {"message": "split"}},
}


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: str


def last_json(output: str) -> Any:
    return json.loads(output.strip().splitlines()[-1])


def create_clients(issuer: LiveServer) -> Credentials:
    """The resource server's confidential client, and the tokens' public one."""
    secret = uuid.uuid4().hex
    issuer.python("-c", CLIENT, "split-rs", secret, "rs")
    issuer.python("-c", CLIENT, "split-client", "", "public")
    return Credentials("split-rs", secret)


def register_resource_server(issuer: LiveServer, port: int) -> Credentials:
    """`manage.py register_resource_server` for http://127.0.0.1:`port`/mcp.

    Returns the credentials it printed as its last two lines.
    """
    printed = issuer.manage(
        "register_resource_server", "--resource", f"http://127.0.0.1:{port}/mcp"
    )
    lines = dict(line.split("=", 1) for line in printed.strip().splitlines()[-2:])
    return Credentials(
        lines["MCP_AUTHORIZATION_SERVER_CLIENT_ID"],
        lines["MCP_AUTHORIZATION_SERVER_CLIENT_SECRET"],
    )


def mint(issuer: LiveServer, audience: str, **spec: Any) -> dict[str, Any]:
    """A token the issuer signs for `audience` ({"token", "claims"}).

    `spec`: `username` (default carol), claim values to override (None
    drops a claim), `offsets` {claim: seconds from now}.
    """
    spec = {"username": "carol", "aud": audience, **spec}
    return last_json(issuer.python("-c", MINT, json.dumps(spec)))


def revoke(issuer: LiveServer, jti: str) -> float:
    """Revoke `jti` at the issuer; the time its commit returned."""
    return last_json(issuer.python("-c", REVOKE, jti))["committed_at"]


def call(url: str, token: str, *, timeout: float = 10) -> httpx2.Response:
    """One tools/call (echo) on a fresh connection (no token: none sent)."""
    headers = {
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2025-11-25",
    }
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx2.post(url, json=CALL, headers=headers, timeout=timeout)


def with_kid(token: str, kid: str) -> str:
    """`token` with its header's `kid` replaced (the signature no longer matters)."""
    header, payload, signature = token.split(".")
    fields = json.loads(base64.urlsafe_b64decode(header + "=="))
    fields["kid"] = kid
    encoded = base64.urlsafe_b64encode(json.dumps(fields).encode()).rstrip(b"=")
    return ".".join([encoded.decode(), payload, signature])


def resource_server_env(
    issuer: LiveServer, credentials: Credentials, port: int, **extra: str
) -> dict[str, str]:
    return {
        **issuer.env,
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "DJANGO_SECRET_KEY": "rs-" + uuid.uuid4().hex,
        "MCP_AUTHORIZATION_SERVER": issuer.url,
        "MCP_AUTHORIZATION_SERVER_CLIENT_ID": credentials.client_id,
        "MCP_AUTHORIZATION_SERVER_CLIENT_SECRET": credentials.client_secret,
        **extra,
    }


def start(
    env: dict[str, str], port: int, log_path: Path, *, command: list[str] | None = None
) -> subprocess.Popen:
    """uvicorn (or `command`) serving config.asgi on `port`, logging to a file."""
    argv = command or uvicorn_command(port)
    with log_path.open("a") as log:
        return subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )


def wait_healthy(url: str, process: subprocess.Popen, log_path: Path) -> None:
    """Return once `url`/healthz answers; RuntimeError if the process exits."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log_path.read_text()}")
        try:
            if httpx2.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx2.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server did not start:\n{log_path.read_text()}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def run_resource_server(
    issuer: LiveServer,
    credentials: Credentials,
    tmp_path: Path,
    *,
    name: str = "rs",
    command: list[str] | None = None,
    port: int | None = None,
    **extra: str,
) -> Iterator[LiveServer]:
    """A resource server of `issuer` on `port` (default: a free one); stopped after.

    `command` replaces uvicorn (it must serve config.asgi on `port`).
    """
    port = port or free_port()
    env = resource_server_env(issuer, credentials, port, **extra)
    log_path = tmp_path / f"{name}.log"
    process = start(env, port, log_path, command=command)
    server = LiveServer(url=f"http://127.0.0.1:{port}", env=env, log_path=log_path)
    server.process = process
    try:
        wait_healthy(server.url, process, log_path)
        yield server
    finally:
        stop(process)

"""A real server process for end-to-end tests: uvicorn on a free port.

The server gets a database of its own (a temporary SQLite file, or a
throwaway PostgreSQL database when the suite runs on PostgreSQL), migrated
and seeded with the demo data, its static files collected into a directory
of its own (served by WhiteNoise, as in production), and PUBLIC_URL
pointing at its own port.
"""

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

from deploy.nodes import uvicorn_command

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    url: str  # PUBLIC_URL, e.g. http://localhost:PORT
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None  # uvicorn, once started
    command: tuple[str, ...] = ()  # how it was started (tests/faults restart it)

    @property
    def mcp_url(self) -> str:
        return f"{self.url}/mcp"

    def manage(self, *args: str) -> str:
        """Run a manage.py command against the server's database."""
        return self.python("manage.py", *args)

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run Python with the server's environment; return the finished process."""
        return subprocess.run(
            [sys.executable, *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def python(self, *args: str) -> str:
        """Run Python (a script, or `-c CODE`); its stdout, or RuntimeError."""
        result = self.run(*args, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"python {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def _database(tmp_path: Path) -> Iterator[str]:
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith(("postgres://", "postgresql://")):
        yield f"sqlite:///{tmp_path / 'live.sqlite3'}"
        return
    import psycopg

    parts = urlsplit(base)
    name = f"live_{uuid.uuid4().hex[:12]}"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def run_live_server(
    tmp_path: Path,
    *,
    workers: int = 1,
    host: str = "localhost",
    extra_env: dict | None = None,
    database_port: int | None = None,
    log_level: str = "warning",
) -> Iterator[LiveServer]:
    """Start a migrated, seeded server; stop it and drop its database after.

    uvicorn logs at `log_level` ("info" writes its access log).

    With `database_port` (PostgreSQL only) the server reaches its database
    through that port on 127.0.0.1, such as a fault-injecting proxy's
    (tests/faults/pgproxy.py).
    """
    port = free_port()
    with _database(tmp_path) as database_url:
        if database_port is not None:
            parts = urlsplit(database_url)
            netloc = f"{parts.username or 'postgres'}@127.0.0.1:{database_port}"
            database_url = urlunsplit(parts._replace(netloc=netloc))
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "PUBLIC_URL": f"http://{host}:{port}",
            "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1,[::1]",
            "DJANGO_SECRET_KEY": "live-test-" + uuid.uuid4().hex,
            "DJANGO_DEBUG": "false",
            "PYTHONUNBUFFERED": "1",
            # `manage.py harness` run for this server caches its client
            # registration here, never in the developer's .cache/.
            "HARNESS_CACHE_DIR": str(tmp_path / "harness-cache"),
            "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
            # Stop at once on SIGTERM unless a test sets a drain delay.
            "MCP_SHUTDOWN_DRAIN_SECONDS": "0",
            **(extra_env or {}),
        }
        server = LiveServer(
            url=f"http://{host}:{port}", env=env, log_path=tmp_path / "server.log"
        )
        server.manage("migrate", "--noinput")
        server.manage("seed_demo")
        server.manage("collectstatic", "--noinput")
        server.command = tuple(
            uvicorn_command(port, workers=workers, log_level=log_level)
        )
        with server.log_path.open("w") as log:
            server.process = subprocess.Popen(
                server.command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
            try:
                wait_until_ready(server, server.process)
                yield server
            finally:
                # The one running now: a fault test may have replaced it.
                process = server.process
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def wait_until_ready(server: LiveServer, process: subprocess.Popen) -> None:
    """Return once `process` serves `server`'s metadata; RuntimeError if not."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.log()}")
        try:
            response = requests.get(
                f"{server.url}/.well-known/oauth-authorization-server", timeout=2
            )
            if response.status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server did not start:\n{server.log()}")

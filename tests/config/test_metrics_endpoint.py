"""/metrics in process: the allow-list in both modes, labels, stale files, JSON lines.

The live tests (tests/config/test_metrics_live.py) run real workers; these
pin the pieces a live run cannot reach cheaply: a client address other
than loopback, the resource-server URLconf, and what is left of a dead
process's files.
"""

import json
import logging
import os
import subprocess
import sys
from http import HTTPStatus
from pathlib import Path

import httpx2
import pytest
from django.conf import settings as django_settings

from config import metrics_dir
from config.asgi import django_application
from config.json_logs import JsonFormatter
from config.metrics_endpoint import client_allowed, networks
from config.request_observer import RequestObserver, route_label

LOOPBACK = ("127.0.0.0/8", "::1/128")


async def get(path: str, *, client: str, allowed: tuple[str, ...] = LOOPBACK):
    app = RequestObserver(
        django_application,
        metrics_allowed=networks(allowed),
        metrics_dir=str(django_settings.MCP_METRICS_DIR),
        json_log=False,
    )
    transport = httpx2.ASGITransport(app=app, client=(client, 40000))
    async with httpx2.AsyncClient(
        transport=transport, base_url="http://localhost"
    ) as http:
        return await http.get(path)


async def test_loopback_reads_the_metrics_of_the_requests_it_made() -> None:
    await get("/healthz", client="127.0.0.1")
    response = await get("/metrics", client="127.0.0.1")
    assert response.status_code == HTTPStatus.OK
    assert response.headers["content-type"].startswith("text/plain; version=")
    assert 'mcp_http_requests_total{method="GET",route="/healthz"' in response.text
    assert "mcp_audit_queue_depth" in response.text


@pytest.mark.parametrize("urlconf", ["config.urls", "config.urls_resource_server"])
async def test_an_address_outside_the_list_gets_the_404_of_an_unknown_path(
    settings, urlconf: str
) -> None:
    settings.ROOT_URLCONF = urlconf
    refused = await get("/metrics", client="192.0.2.7")
    unknown = await get("/no-such-path", client="192.0.2.7")
    assert refused.status_code == unknown.status_code == HTTPStatus.NOT_FOUND
    assert refused.headers["content-type"] == unknown.headers["content-type"]
    assert refused.text.replace("/metrics", "") == unknown.text.replace(
        "/no-such-path", ""
    )
    allowed = await get("/metrics", client="192.0.2.7", allowed=("192.0.2.0/24",))
    assert allowed.status_code == HTTPStatus.OK


@pytest.mark.parametrize(
    ("client", "allowed"),
    [
        (("127.0.0.1", 1), True),
        (("127.9.9.9", 1), True),
        (("::1", 1), True),
        (("::ffff:127.0.0.1", 1), True),
        (("10.0.0.1", 1), False),
        (("2001:db8::1", 1), False),
        (None, False),
        (("not-an-address", 1), False),
    ],
)
def test_the_allow_list_reads_the_client_address(client, allowed: bool) -> None:
    assert client_allowed({"client": client}, networks(LOOPBACK)) is allowed


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/mcp", "/mcp"),
        ("/mcp/", "/mcp"),
        ("/.well-known/jwks.json", "/.well-known"),
        ("/register/abc", "/register"),
        ("/", "/"),
        ("/wp-login.php", "other"),
        ("/" + "x" * 500, "other"),
    ],
)
def test_routes_are_the_servers_own_words(path: str, route: str) -> None:
    assert route_label(path) == route


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _touch(directory: Path, *names: str) -> None:
    for name in names:
        (directory / name).write_bytes(b"")


def test_a_starting_node_drops_every_file_of_processes_gone(tmp_path: Path) -> None:
    dead = _dead_pid()
    _touch(tmp_path, f"counter_{dead}.db", f"gauge_livesum_{dead}.db")
    metrics_dir.clean(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_replaced_worker_leaves_its_counters_and_drops_its_live_gauges(
    tmp_path: Path,
) -> None:
    dead, live = _dead_pid(), os.getppid()
    _touch(
        tmp_path,
        f"counter_{dead}.db",
        f"histogram_{dead}.db",
        f"gauge_livesum_{dead}.db",
        f"gauge_livemax_{dead}.db",
        f"counter_{live}.db",
    )
    metrics_dir.clean(tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        [f"counter_{dead}.db", f"histogram_{dead}.db", f"counter_{live}.db"]
    )


def test_default_directories_of_dead_nodes_are_removed(tmp_path: Path) -> None:
    dead = tmp_path / f"node-{_dead_pid()}"
    alive = tmp_path / f"node-{os.getppid()}"
    mine = tmp_path / f"node-{os.getpid()}"
    for directory in (dead, alive, mine):
        directory.mkdir()
    metrics_dir.remove_dead_nodes(tmp_path, keep=mine)
    assert sorted(tmp_path.iterdir()) == sorted([alive, mine])


def test_a_json_line_carries_its_fields_and_never_a_token() -> None:
    record = logging.LogRecord(
        "mcp.request", logging.INFO, __file__, 1, "got Bearer abc.def.ghi", (), None
    )
    record.fields = {"status": 200, "path": "/token?code=secret-code"}
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["status"] == 200
    assert parsed["logger"] == "mcp.request"
    assert "abc.def.ghi" not in line
    assert "secret-code" not in line

"""GET /metrics: the node's metrics, for the addresses allowed to read them.

The exposition adds up the files of every worker of this node
(prometheus_client's MultiProcessCollector over MCP_METRICS_DIR), so one
scrape of any worker answers for the whole node; the worker answering it
writes its own gauges first (config/process_gauges.py). Reading the files
is done off the event loop.

Only client addresses in MCP_METRICS_ALLOWED_IPS are served. The address
is the one the ASGI server reports: behind a proxy, what uvicorn was told
to trust (`--forwarded-allow-ips`) decides it. Every other client is
answered exactly as for a path that does not exist (the caller hands the
request on to Django, whose URLconf has no /metrics in either mode): a
404 gives away neither the endpoint nor the allow-list, where a 403 would
confirm both to whoever probes.
"""

import ipaddress
from collections.abc import Iterable

import anyio
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)

from config import process_gauges
from mcpserver.asgi_types import Scope, Send

METRICS_PATH = "/metrics"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(allowed: Iterable[str]) -> tuple[Network, ...]:
    """The allow-list's networks (a bare address is a /32 or /128)."""
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in allowed)


def client_allowed(scope: Scope, allowed: tuple[Network, ...]) -> bool:
    """Whether the request's client address is in one of `allowed`."""
    client = scope.get("client")
    if not client:
        return False
    try:
        address = ipaddress.ip_address(client[0])
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in allowed)


def exposition(directory: str) -> bytes:
    """The text exposition of every worker's values in `directory`."""
    process_gauges.forget_dead_workers(directory)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)
    return generate_latest(registry)


async def send_metrics(send: Send, directory: str) -> int:
    """Answer a scrape (GET or HEAD alike); return the status sent."""
    process_gauges.refresh()
    body = await anyio.to_thread.run_sync(exposition, directory)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", CONTENT_TYPE_LATEST.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                (b"x-content-type-options", b"nosniff"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
    return 200

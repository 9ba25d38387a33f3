"""A closed-loop load generator for MCP `tools/call` over Streamable HTTP.

Concurrency N means N keep-alive connections, each sending its next call as
soon as the previous answer arrived, until the run's total is reached. It
speaks just enough HTTP/1.1 (content-length and chunked bodies, JSON and
SSE responses) to stay cheap: the client shares the machine with the
server, and every microsecond it spends is one the server does not get.
A response counts as a success when, as in ../shared/bench/mcp-call.lua,
it is 2xx, carries a JSON-RPC `result`, and neither an `error` nor
`isError: true`.
"""

import asyncio
import json
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

PROTOCOL_VERSION = "2025-11-25"
_ERROR = re.compile(rb'"error"\s*:')
_IS_ERROR = re.compile(rb'"isError"\s*:\s*true')


@dataclass(frozen=True)
class Target:
    """One MCP endpoint and the call to send it."""

    url: str
    token: str
    tool: str = "echo"
    arguments: dict[str, Any] = field(default_factory=lambda: {"message": "hello"})
    protocol_version: str = PROTOCOL_VERSION
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or self.url


@dataclass
class RunResult:
    """What one run measured. Latencies are in seconds, in completion order."""

    target: Target
    concurrency: int
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    first_error: str = ""

    @property
    def calls(self) -> int:
        return len(self.latencies)

    @property
    def ok(self) -> int:
        return self.calls - sum(self.errors.values())

    @property
    def calls_per_second(self) -> float:
        return self.calls / self.elapsed if self.elapsed else 0.0

    def percentile_ms(self, p: float) -> float:
        """The nearest-rank `p`th percentile latency in milliseconds."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        rank = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
        return ordered[rank] * 1000


class LoadError(Exception):
    """The target cannot be measured (unreachable, refused, a failed preflight)."""


class _Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def exchange(self, request: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
        """Send one request; return status, lower-cased headers and the body."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(
                self.host, self.port
            )
        reader = self.reader
        if reader is None:  # pragma: no cover - set together with writer
            raise ConnectionError("not connected")
        self.writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name:
                headers[name.strip().lower()] = value.strip()
        if b"content-length" in headers:
            body = await reader.readexactly(int(headers[b"content-length"]))
        elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            body = await self._chunked(reader)
        else:  # the server closes to end the body
            body = await reader.read()
            self.close()
        if headers.get(b"connection", b"").lower() == b"close":
            self.close()
        return status, headers, body

    @staticmethod
    async def _chunked(reader: asyncio.StreamReader) -> bytes:
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return b"".join(chunks)
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def _request_bytes(target: Target, body: bytes, session_id: str | None = None) -> bytes:
    parts = urlsplit(target.url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    headers = [
        f"POST {path} HTTP/1.1",
        f"Host: {parts.netloc}",
        f"Authorization: Bearer {target.token}",
        "Content-Type: application/json",
        "Accept: application/json, text/event-stream",
        f"MCP-Protocol-Version: {target.protocol_version}",
        f"Content-Length: {len(body)}",
    ]
    if session_id:
        headers.append(f"Mcp-Session-Id: {session_id}")
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise LoadError(f"only http:// URLs can be measured, not {url!r}")
    return parts.hostname, parts.port or 80


def _classify(status: int, body: bytes) -> str | None:
    """None for a successful call, else the kind of failure."""
    if not 200 <= status < 300:
        return f"http {status}"
    if b'"result"' not in body or _ERROR.search(body):
        return "json-rpc error"
    if _IS_ERROR.search(body):
        return "isError result"
    return None


async def preflight(target: Target) -> str | None:
    """Initialize and make one checked call; return the session id, if any.

    Raises LoadError when the target is unreachable or the call fails, so a
    misconfigured run fails loudly instead of measuring errors fast.
    """
    host, port = _address(target.url)
    connection = _Connection(host, port)
    initialize = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": target.protocol_version,
                "capabilities": {},
                "clientInfo": {"name": "manage.py bench", "version": "1"},
            },
        }
    ).encode()
    try:
        status, headers, body = await connection.exchange(
            _request_bytes(target, initialize)
        )
        if not 200 <= status < 300:
            raise LoadError(f"initialize answered HTTP {status}: {body[:300]!r}")
        session_id = headers.get(b"mcp-session-id", b"").decode() or None
        if session_id:
            notification = b'{"jsonrpc":"2.0","method":"notifications/initialized"}'
            await connection.exchange(_request_bytes(target, notification, session_id))
        status, _, body = await connection.exchange(
            _request_bytes(target, _call_body(target, 1), session_id)
        )
        problem = _classify(status, body)
        if problem is not None:
            raise LoadError(f"the checked call failed ({problem}): {body[:300]!r}")
        return session_id
    except OSError as exc:
        raise LoadError(f"{target.url}: {exc}") from None
    finally:
        connection.close()


def _call_body(target: Target, request_id: int) -> bytes:
    return json.dumps(
        {
            "jsonrpc": "2.0",
            "id": request_id,
            "method": "tools/call",
            "params": {"name": target.tool, "arguments": target.arguments},
        },
        separators=(",", ":"),
    ).encode()


async def run_load(
    target: Target,
    *,
    concurrency: int,
    calls: int,
    seconds: float | None = None,
    session_id: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> RunResult:
    """Make `calls` tools/call requests over `concurrency` connections.

    With `seconds`, runs for that long instead (`calls` is then ignored).
    `concurrency` must stay below 9,000 and `calls` below 10**8 (request ids
    keep a fixed width).
    """
    host, port = _address(target.url)
    result = RunResult(target=target, concurrency=concurrency)
    # Calls differ only in their id, which always has 13 digits (so the
    # Content-Length holds): prebuild the bytes around it.
    base = 10**12
    request = _request_bytes(target, _call_body(target, base), session_id)
    marker = b'"id":' + str(base).encode()
    before, after = request.split(marker, 1)
    issued = 0
    deadline = None if seconds is None else time.perf_counter() + seconds

    def more() -> bool:
        if deadline is not None:
            return time.perf_counter() < deadline
        return issued < calls

    async def worker(index: int) -> None:
        nonlocal issued
        connection = _Connection(host, port)
        try:
            while more():
                issued += 1
                request_id = base + index * 10**8 + issued
                request = b'%s"id":%d%s' % (before, request_id, after)
                started = time.perf_counter()
                try:
                    status, _, body = await connection.exchange(request)
                    problem = _classify(status, body)
                except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    connection.close()
                    problem, body = f"socket: {type(exc).__name__}", str(exc).encode()
                result.latencies.append(time.perf_counter() - started)
                if problem is not None:
                    result.errors[problem] += 1
                    if not result.first_error:
                        result.first_error = f"{problem}: {body[:300]!r}"
                if progress is not None:
                    progress(len(result.latencies))
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    result.elapsed = time.perf_counter() - started
    return result

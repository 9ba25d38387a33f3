"""A loopback HTTP/1.1 proxy that adds `Authorization: Bearer TOKEN`.

The conformance suite cannot send a bearer token, and our /mcp answers 401
without one. This proxy stands in front of a live server and changes one
thing in each request: it drops any Authorization header and adds ours
right after the request line. Everything else goes through byte for byte,
in both directions: the suite's Host and Origin (the DNS-rebinding checks),
header values with surrounding whitespace (RFC 9110 §5.5 checks), duplicate
headers and bodies reach the server exactly as the suite sent them, and the
answers (JSON, SSE, errors) come back untouched. An HTTP parser in the
middle, such as an ASGI server's, would trim or fold some of these and
hide what the suite tests.

Only request framing is parsed (the head up to the blank line, then a
Content-Length or chunked body), so keep-alive and pipelined requests each
get the header; responses are copied as a plain byte stream, which HTTP/1.1
keeps in request order.
"""

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass


class ProxyError(Exception):
    """A request the proxy cannot frame; the connection is closed."""


@dataclass
class BearerProxy:
    """A running proxy: `url` is its base, e.g. http://127.0.0.1:PORT."""

    port: int
    errors: list[str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def bearer_proxy(upstream_port: int, token: str) -> Iterator[BearerProxy]:
    """Run the proxy on a free loopback port, in a thread of its own."""
    loop = asyncio.new_event_loop()
    errors: list[str] = []
    ready = threading.Event()
    holder: dict[str, asyncio.Server] = {}
    connections: set[asyncio.Task] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        task = asyncio.current_task()
        assert task is not None
        connections.add(task)
        try:
            await _serve(reader, writer, upstream_port, token, errors)
        except asyncio.CancelledError:
            pass  # stopped: asyncio's stream callback would log a cancelled task
        finally:
            connections.discard(task)

    async def start() -> None:
        holder["server"] = await asyncio.start_server(handle, "127.0.0.1", 0)
        ready.set()

    def run() -> None:
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, name="bearer-proxy", daemon=True)
    thread.start()
    if not ready.wait(timeout=10):
        raise RuntimeError("the bearer proxy did not start")
    server = holder["server"]
    try:
        yield BearerProxy(port=server.sockets[0].getsockname()[1], errors=errors)
    finally:

        async def stop() -> None:
            server.close()
            for task in list(connections):
                task.cancel()
            await asyncio.gather(*connections, return_exceptions=True)
            await server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


async def _serve(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    upstream_port: int,
    token: str,
    errors: list[str],
) -> None:
    """One client connection, tied to one upstream connection."""
    try:
        upstream_reader, upstream_writer = await asyncio.open_connection(
            "127.0.0.1", upstream_port
        )
    except OSError as exc:
        errors.append(f"upstream connection failed: {exc}")
        client_writer.close()
        return
    requests = asyncio.create_task(
        _forward_requests(client_reader, upstream_writer, token, errors)
    )
    responses = asyncio.create_task(_copy(upstream_reader, client_writer))
    try:
        await asyncio.wait({requests, responses}, return_when=asyncio.FIRST_COMPLETED)
        if requests.done() and not responses.done():
            # The client sent its last request: let the answers finish.
            await asyncio.wait({responses}, timeout=60)
    finally:
        for task in (requests, responses):
            task.cancel()
        for writer in (upstream_writer, client_writer):
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()


async def _forward_requests(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    token: str,
    errors: list[str],
) -> None:
    """Each request's head with our Authorization header, then its body."""
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break  # the client closed its side between requests
            except asyncio.LimitOverrunError as exc:
                raise ProxyError("request head too large") from exc
            head, framing = _rewrite_head(head, token)
            writer.write(head)
            await writer.drain()
            await _forward_body(reader, writer, framing)
        if writer.can_write_eof():
            writer.write_eof()
    except (ProxyError, asyncio.IncompleteReadError) as exc:
        errors.append(f"request not forwarded: {exc!r}")
    except OSError:
        pass


def _rewrite_head(head: bytes, token: str) -> tuple[bytes, int | None]:
    """The head with only our Authorization; the body's length (None: chunked).

    Header lines are kept as sent (whitespace, case, order, duplicates).
    """
    request_line, *lines = head[:-4].split(b"\r\n")
    kept: list[bytes] = []
    length = 0
    chunked = False
    for line in lines:
        name, colon, value = line.partition(b":")
        if not colon:
            raise ProxyError(f"malformed header line {line[:80]!r}")
        lowered = name.strip().lower()
        if lowered == b"authorization":
            continue
        if lowered == b"content-length":
            length = int(value.strip())
        elif lowered == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        kept.append(line)
    kept.insert(0, b"Authorization: Bearer " + token.encode("ascii"))
    rewritten = b"\r\n".join([request_line, *kept]) + b"\r\n\r\n"
    return rewritten, None if chunked else length


async def _forward_body(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, length: int | None
) -> None:
    if length is not None:
        if length:
            writer.write(await reader.readexactly(length))
        return
    while True:  # chunked: size line, data and CRLF; a 0 chunk, trailers, CRLF
        size_line = await reader.readuntil(b"\r\n")
        writer.write(size_line)
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while (trailer := await reader.readuntil(b"\r\n")) != b"\r\n":
                writer.write(trailer)
            writer.write(b"\r\n")
            return
        writer.write(await reader.readexactly(size + 2))

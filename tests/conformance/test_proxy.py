"""The bearer proxy changes the Authorization header and nothing else."""

import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from tests.conformance.proxy import bearer_proxy

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
OURS = b"Authorization: Bearer ours\r\n"


@contextmanager
def recording_upstream(
    expected: bytes, answers: int
) -> Iterator[tuple[int, list[bytes]]]:
    """A server that reads len(`expected`) bytes, then answers "ok" `answers` times.

    Yields its port and the list the bytes it read are appended to.
    """
    received: list[bytes] = []

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data = b""
            while len(data) < len(expected):
                chunk = self.request.recv(65536)
                if not chunk:
                    break
                data += chunk
            received.append(data)
            self.request.sendall(ANSWER * answers)

    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler) as upstream:
        threading.Thread(target=upstream.serve_forever, daemon=True).start()
        try:
            yield upstream.server_address[1], received
        finally:
            upstream.shutdown()


def _exchange(port: int, raw: bytes, answers: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(raw)
        data = b""
        while len(data) < len(ANSWER) * answers:
            chunk = client.recv(65536)
            assert chunk, data
            data += chunk
        return data


def test_replaces_the_authorization_and_keeps_every_other_byte():
    line, body = b"POST /mcp HTTP/1.1\r\n", b"Content-Length: 3\r\n\r\nEND"
    kept = b"Host: evil.example:1234\r\nMcp-Name:   echo  \r\n"
    sent = line + b"authorization: Bearer theirs\r\n" + kept + body
    expected = line + OURS + kept + body
    with (
        recording_upstream(expected, answers=1) as (port, received),
        bearer_proxy(port, "ours") as proxy,
    ):
        assert _exchange(proxy.port, sent, answers=1) == ANSWER
    assert received == [expected]
    assert proxy.errors == []


def test_adds_the_token_to_each_request_on_a_connection_chunked_or_not():
    line = b"POST /mcp HTTP/1.1\r\n"
    chunked = b"Host: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nEND\r\n0\r\n\r\n"
    plain = b"Host: h\r\nContent-Length: 3\r\n\r\nEND"
    sent = line + chunked + line + plain
    expected = line + OURS + chunked + line + OURS + plain
    with (
        recording_upstream(expected, answers=2) as (port, received),
        bearer_proxy(port, "ours") as proxy,
    ):
        assert _exchange(proxy.port, sent, answers=2) == ANSWER * 2
    assert received == [expected]
    assert proxy.errors == []

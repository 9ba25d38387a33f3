"""A session-mode MCP client in raw httpx2, for what the SDK client hides.

It speaks the handshake era (2025-11-25) and reads SSE by hand, so tests
can see every event id, present any Last-Event-ID and time when a stream
ends.
"""

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx2

VERSION = "2025-11-25"


@dataclass
class Event:
    id: str | None
    data: str

    @property
    def message(self) -> dict[str, Any] | None:
        return json.loads(self.data) if self.data else None


@dataclass
class Stream:
    """One SSE response, read to its end (or until `stop_after` messages)."""

    status: int
    events: list[Event] = field(default_factory=list)
    ended_at: float | None = None  # time.time() when the server ended it

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [e.message for e in self.events if e.message is not None]


def parse_sse(lines, stream: Stream, stop_after: int | None) -> None:
    event_id: str | None = None
    data: list[str] = []
    for line in lines:
        if line == "":
            if data or event_id is not None:
                stream.events.append(Event(event_id, "\n".join(data)))
                if stop_after is not None and len(stream.messages) >= stop_after:
                    return
            event_id, data = None, []
        elif line.startswith("id:"):
            event_id = line[3:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    stream.ended_at = time.time()


@dataclass
class RawSession:
    url: str
    token: str
    session_id: str | None = None

    def headers(self, **extra: str) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": VERSION,
            **extra,
        }
        if self.session_id:
            headers["Mcp-Session-Id"] = self.session_id
        return headers

    def post(self, message: dict[str, Any], timeout: float = 10) -> Stream:
        """POST one message; its SSE answer read up to the response."""
        with (
            httpx2.Client(timeout=timeout) as client,
            client.stream(
                "POST", self.url, json=message, headers=self.headers()
            ) as response,
        ):
            stream = Stream(response.status_code)
            if "mcp-session-id" in response.headers:
                self.session_id = response.headers["mcp-session-id"]
            if response.headers.get("content-type", "").startswith("text/event-stream"):
                parse_sse(response.iter_lines(), stream, stop_after=1)
            else:
                response.read()
            return stream

    def open(self) -> None:
        """initialize, then notifications/initialized: a session is open."""
        answer = self.post(
            {
                "jsonrpc": "2.0",
                "id": 0,
                "method": "initialize",
                "params": {
                    "protocolVersion": VERSION,
                    "capabilities": {},
                    "clientInfo": {"name": "raw", "version": "1"},
                },
            }
        )
        assert answer.status == 200, answer
        assert self.session_id
        done = self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        assert done.status == 202

    def call_echo(self, request_id: int, message: str) -> Stream:
        return self.post(
            {
                "jsonrpc": "2.0",
                "id": request_id,
                "method": "tools/call",
                "params": {"name": "echo", "arguments": {"message": message}},
            }
        )

    def get(
        self,
        *,
        last_event_id: str | None = None,
        stop_after: int | None = None,
        opened: threading.Event | None = None,
        timeout: float = 30,
    ) -> Stream:
        """GET the session's stream (a replay with `last_event_id`).

        Reads until the server ends it, `stop_after` messages, or `timeout`
        seconds without a byte; sets `opened` once the headers arrived.
        """
        extra = {} if last_event_id is None else {"Last-Event-ID": last_event_id}
        headers = self.headers(**extra, Accept="text/event-stream")
        with (
            httpx2.Client(timeout=timeout) as client,
            client.stream("GET", self.url, headers=headers) as response,
        ):
            stream = Stream(response.status_code)
            if opened is not None:
                opened.set()
            if response.status_code != 200:
                response.read()
                return stream
            # Still open after `timeout` without a byte: ended_at stays None.
            with contextlib.suppress(httpx2.ReadTimeout):
                parse_sse(response.iter_lines(), stream, stop_after)
            return stream

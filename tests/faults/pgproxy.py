"""A TCP proxy between a server under test and PostgreSQL, with faults on cue.

The fault tests and scripts (tests/faults/, scripts/fault_*.py) put it in
front of the shared PostgreSQL so an outage can be staged without touching
the real cluster, which other people use: never stop or restart that one.

Modes (`set_mode`), each applying to new and existing connections at once:

- FORWARD: bytes pass, after `latency` seconds each way (0 by default);
- REFUSE: the listening socket is closed (connects get ECONNREFUSED) and
  every open connection is reset, as when the database host is down;
- BLACKHOLE: connections are accepted but nothing is forwarded either way,
  as in a network partition: clients wait until their own timeouts.
  Bytes sent meanwhile are held and delivered when FORWARD resumes, as
  TCP retransmission would after a partition heals.

The proxy runs its own event loop in a daemon thread, listens on loopback
only and lives as long as its `running()` block.
"""

import asyncio
import contextlib
import enum
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

_CHUNK = 65536


class Mode(enum.Enum):
    FORWARD = "forward"
    REFUSE = "refuse"
    BLACKHOLE = "blackhole"


@dataclass(eq=False)
class _Pipe:
    """One client connection and its upstream, while both are open."""

    writers: list[asyncio.StreamWriter] = field(default_factory=list)


class PgProxy:
    """Forward 127.0.0.1:`port` to `upstream`; see the module docstring."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = _free_port()
        self.mode = Mode.FORWARD
        self.latency = 0.0
        self.accepted = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._pipes: set[_Pipe] = set()
        self._open: asyncio.Event | None = None  # set while not BLACKHOLE

    @classmethod
    def in_front_of(cls, database_url: str) -> "PgProxy":
        """A proxy to the PostgreSQL server `database_url` names."""
        parts = urlsplit(database_url)
        return cls(parts.hostname or "127.0.0.1", parts.port or 5432)

    # --- control, from any thread ----------------------------------------
    def set_mode(self, mode: Mode, *, latency: float = 0.0) -> None:
        """Switch to `mode` (and FORWARD's added `latency`); returns when done."""
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(
            self._switch(mode, latency), self._loop
        ).result(10)

    @contextlib.contextmanager
    def running(self) -> Iterator["PgProxy"]:
        """Serve in a background thread until the block ends."""
        ready = threading.Event()
        stopped = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            loop.run_until_complete(self._start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._close_all())
            loop.close()
            stopped.set()

        thread = threading.Thread(target=serve, name="pgproxy", daemon=True)
        thread.start()
        if not ready.wait(10):
            raise RuntimeError("the proxy did not start")
        try:
            yield self
        finally:
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._loop.stop)
            stopped.wait(10)

    # --- the loop's side ----------------------------------------------------
    async def _start(self) -> None:
        self._open = asyncio.Event()
        self._open.set()
        await self._listen()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, reuse_address=True
        )

    async def _switch(self, mode: Mode, latency: float) -> None:
        assert self._open is not None
        previous, self.mode, self.latency = self.mode, mode, latency
        if mode is Mode.BLACKHOLE:
            self._open.clear()
        else:
            self._open.set()
        if mode is Mode.REFUSE and previous is not Mode.REFUSE:
            assert self._server is not None
            self._server.close()
            await self._close_all()
        elif mode is not Mode.REFUSE and previous is Mode.REFUSE:
            await self._listen()

    async def _close_all(self) -> None:
        for pipe in list(self._pipes):
            for writer in pipe.writers:
                with contextlib.suppress(Exception):
                    sock = writer.get_extra_info("socket")
                    if sock is not None:  # RST, not FIN: the host went away
                        sock.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                    writer.close()
        self._pipes.clear()

    async def _accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.accepted += 1
        pipe = _Pipe([writer])
        self._pipes.add(pipe)
        try:
            assert self._open is not None
            await self._open.wait()  # a black hole holds new connections too
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            pipe.writers.append(up_writer)
            await asyncio.gather(
                self._pump(reader, up_writer), self._pump(up_reader, writer)
            )
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._pipes.discard(pipe)
            for each in pipe.writers:
                with contextlib.suppress(Exception):
                    each.close()

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        assert self._open is not None
        try:
            while data := await reader.read(_CHUNK):
                await self._open.wait()
                if self.latency:
                    await asyncio.sleep(self.latency)
                writer.write(data)
                await writer.drain()
        finally:
            with contextlib.suppress(Exception):
                writer.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]

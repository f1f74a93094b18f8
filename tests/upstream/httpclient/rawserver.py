"""Raw asyncio servers on loopback that answer byte for byte what a test scripts, and small helpers
for the tests of the pooled HTTP/1.1 client (``upstream/httpclient.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from gemini_proxy.upstream.http import ConnectionPool, Response

OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
SECRET = "test-key-1-secretpart"


class Peer:
    """One connection the server accepted, driven by the test's script."""

    def __init__(
        self, server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.index = index  # 1 for the first connection
        self.closed_by_client = asyncio.Event()
        self.finished = False  # the server's side of it is done (handler returned)

    async def request(self) -> bytes | None:
        """The next request, whole (also recorded in ``server.requests``); None once the client closed."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            self.closed_by_client.set()
            return None
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        data = head + (await self.reader.readexactly(length) if length else b"")
        self.server.requests.append(data)
        return data

    async def send(self, *parts: bytes) -> None:
        for part in parts:
            self.writer.write(part)
        await self.writer.drain()

    async def eof(self) -> None:
        """Waits until the client closes (or aborts) the connection."""
        with contextlib.suppress(ConnectionError):
            while await self.reader.read(65536):
                pass
        self.closed_by_client.set()

    def reset(self) -> None:
        """Cuts the connection with a TCP reset instead of a clean close."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()


Handler = Callable[[Peer], Awaitable[None]]


class RawServer:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[bytes] = []
        self.peers: list[Peer] = []
        self.errors: list[BaseException] = []
        self.tasks: set[asyncio.Task[Any]] = set()
        self.port = 0

    @property
    def connections(self) -> int:
        return len(self.peers)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        peer = Peer(self, reader, writer, len(self.peers) + 1)
        self.peers.append(peer)
        try:
            await self.handler(peer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        except BaseException as exc:  # a broken script: reported by serve()
            self.errors.append(exc)
        finally:
            peer.finished = True
            writer.close()

    async def client_closed(self, index: int = 1, timeout: float = 1.0) -> None:
        """Waits until the client has closed connection ``index`` (the script must be reading it)."""
        async with asyncio.timeout(timeout):
            while len(self.peers) < index:
                await asyncio.sleep(0.001)
            await self.peers[index - 1].closed_by_client.wait()


@contextlib.asynccontextmanager
async def serve(
    handler: Handler, *, path: str = "", server_ssl: ssl.SSLContext | None = None, **options: Any
) -> AsyncIterator[tuple[RawServer, ConnectionPool]]:
    """A raw server on 127.0.0.1 (over TLS with ``server_ssl``) and a pool to it; also fails the test
    on any error the loop reports."""
    server = RawServer(handler)
    tcp = await asyncio.start_server(server.serve, "127.0.0.1", 0, ssl=server_ssl, backlog=1024)
    server.port = tcp.sockets[0].getsockname()[1]
    options = {"connect_timeout": 1.0, "read_timeout": 2.0} | options
    scheme = "https" if server_ssl is not None else "http"
    pool = ConnectionPool(f"{scheme}://127.0.0.1:{server.port}{path}", **options)
    loop = asyncio.get_running_loop()
    loop_errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: loop_errors.append(context))
    try:
        yield server, pool
    finally:
        await pool.close()
        tcp.close()
        for task in server.tasks:
            task.cancel()
        await asyncio.gather(*server.tasks, return_exceptions=True)
        await tcp.wait_closed()
        await asyncio.sleep(0)  # connection_lost of the last aborted transports
        loop.set_exception_handler(None)
    assert not server.errors
    assert not loop_errors


def answering(*answers: bytes) -> Handler:
    """Answers the requests of each connection with ``answers`` in turn (the last one repeats)."""

    async def handler(peer: Peer) -> None:
        n = 0
        while await peer.request() is not None:
            await peer.send(answers[min(n, len(answers) - 1)])
            n += 1

    return handler


async def get(pool: ConnectionPool, target: str = "/x") -> tuple[int, bytes]:
    response = await pool.request("GET", target, [])
    return response.status, await response.read()


async def collect(response: Response) -> list[bytes]:
    return [data async for data in response.iter_chunks()]


async def eventually(condition: Callable[[], bool], timeout: float = 1.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.001)


def pool_is_empty(pool: ConnectionPool) -> bool:
    return pool.open_count == 0

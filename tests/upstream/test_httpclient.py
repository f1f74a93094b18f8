"""The pooled HTTP/1.1 client (``httpclient.py``) over loopback, against raw asyncio servers
that answer byte for byte what each test scripts.

Every test is also run on uvloop (``test_under_uvloop``, at the end): the proxy serves on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import inspect
import socket
import struct
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import pytest

from gemini_proxy.errors import UpstreamUnavailable
from gemini_proxy.upstream.client import GeminiClient
from gemini_proxy.upstream.httpclient import PAUSE_ABOVE, ConnectionPool, HttpError, Response
from gemini_proxy.upstream.keys import ApiKey
from tests.servers import free_port

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
            writer.close()

    async def client_closed(self, index: int = 1, timeout: float = 1.0) -> None:
        """Waits until the client has closed connection ``index`` (the script must be reading it)."""
        async with asyncio.timeout(timeout):
            while len(self.peers) < index:
                await asyncio.sleep(0.001)
            await self.peers[index - 1].closed_by_client.wait()


@contextlib.asynccontextmanager
async def serve(handler: Handler, *, path: str = "", **options: Any) -> AsyncIterator[tuple[RawServer, ConnectionPool]]:
    """A raw server on 127.0.0.1 and a pool to it; also fails the test on any error the loop reports."""
    server = RawServer(handler)
    tcp = await asyncio.start_server(server.serve, "127.0.0.1", 0)
    server.port = tcp.sockets[0].getsockname()[1]
    options = {"connect_timeout": 1.0, "read_timeout": 2.0} | options
    pool = ConnectionPool(f"http://127.0.0.1:{server.port}{path}", **options)
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
    return not pool._idle and not pool._busy


# -- the request on the wire ---------------------------------------------------------------


async def test_request_bytes() -> None:
    async with serve(answering(OK), path="/base/") as (server, pool):
        headers = [("x-goog-api-key", SECRET), ("content-type", "application/json")]
        response = await pool.request("POST", "/v1beta/models/m:generateContent?alt=sse", headers, b'{"a":1}')
        assert (response.status, await response.read()) == (200, b"ok")
        assert await get(pool, "/v1beta/models") == (200, b"ok")
        host = f"127.0.0.1:{server.port}".encode()
        assert server.requests == [
            b"POST /base/v1beta/models/m:generateContent?alt=sse HTTP/1.1\r\nhost: " + host + b"\r\n"
            b"user-agent: gemini-proxy\r\nx-goog-api-key: " + SECRET.encode() + b"\r\n"
            b"content-type: application/json\r\ncontent-length: 7\r\n\r\n" + b'{"a":1}',
            b"GET /base/v1beta/models HTTP/1.1\r\nhost: " + host + b"\r\nuser-agent: gemini-proxy\r\n\r\n",
        ]


async def test_gemini_client_sends_the_key_in_a_header_only() -> None:
    async with serve(answering(OK)) as (server, pool):
        answer = await GeminiClient(pool).send(ApiKey(SECRET), "GET", "/v1beta/models", query={"pageSize": "1"})
        assert (answer.status, await answer.read()) == (200, b"ok")
        request_line, *header_lines = server.requests[0].split(b"\r\n")
        assert request_line == b"GET /v1beta/models?pageSize=1 HTTP/1.1"
        assert b"x-goog-api-key: " + SECRET.encode() in header_lines


async def test_request_target_is_quoted_and_line_breaks_in_headers_refused() -> None:
    async with serve(answering(OK)) as (server, pool):
        for target, sent in [
            ("/models/a b:gen\r\nx-evil: 1?alt=sse", b"/models/a%20b:gen%0D%0Ax-evil:%201?alt=sse"),
            ("/models/\u00e9\t", b"/models/%C3%A9%09"),
            ("/files/a%2Fb?q=%20&k=v", b"/files/a%2Fb?q=%20&k=v"),  # already encoded: left alone
            ("/models/a#b", b"/models/a%23b"),  # a fragment has no place in a request
        ]:
            assert await get(pool, target) == (200, b"ok")
            assert server.requests[-1].split(b"\r\n")[0] == b"GET " + sent + b" HTTP/1.1"
        for headers in ([("x-goog-api-key", SECRET + "\r\nx-evil: 1")], [("x-a\nx-evil", "1")], [("x-a", "1\r")]):
            with pytest.raises(ValueError, match="line break") as info:
                await pool.request("GET", "/x", headers)
            assert SECRET not in str(info.value)
        assert len(server.requests) == 4


async def test_a_post_without_body_says_content_length_zero() -> None:
    async with serve(answering(OK)) as (server, pool):
        response = await pool.request("POST", "/v1beta/cachedContents/x:refresh", [])
        assert (response.status, await response.read()) == (200, b"ok")
        assert server.requests[0].endswith(b"\r\ncontent-length: 0\r\n\r\n")


# -- keep-alive ------------------------------------------------------------------------------


async def test_sequential_requests_reuse_one_connection() -> None:
    async with serve(answering(OK)) as (server, pool):
        for _ in range(3):
            assert await get(pool) == (200, b"ok")
        assert server.connections == 1
        assert len(pool._idle) == 1


async def test_concurrent_requests_open_separate_connections() -> None:
    both = asyncio.Event()
    arrived = 0

    async def handler(peer: Peer) -> None:
        nonlocal arrived
        while await peer.request() is not None:
            arrived += 1
            if arrived == 2:
                both.set()
            await both.wait()  # neither is answered before both are in flight
            await peer.send(OK)

    async with serve(handler) as (server, pool):
        assert list(await asyncio.gather(get(pool), get(pool))) == [(200, b"ok")] * 2
        assert server.connections == 2
        assert await get(pool) == (200, b"ok")
        assert server.connections == 2


async def test_connection_close_answer_is_not_reused() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok")
        await peer.eof()  # the client must close it: the server does not

    async with serve(handler) as (server, pool):
        assert await get(pool) == (200, b"ok")
        await server.client_closed(1)
        assert await get(pool) == (200, b"ok")
        assert server.connections == 2


async def test_idle_connections_expire_and_max_idle_is_kept() -> None:
    async with serve(answering(OK), keepalive_expiry=0.0) as (server, pool):
        assert await get(pool) == (200, b"ok")
        assert await get(pool) == (200, b"ok")
        assert server.connections == 2
        await server.client_closed(1)  # the expired one was closed, not left open

    both = asyncio.Event()

    async def handler(peer: Peer) -> None:
        while await peer.request() is not None:
            if peer.index == 2:
                both.set()
            await both.wait()
            await peer.send(OK)

    async with serve(handler, max_idle=1) as (server, pool):
        await asyncio.gather(get(pool), get(pool))
        assert len(pool._idle) == 1
        await eventually(lambda: sum(peer.closed_by_client.is_set() for peer in server.peers) == 1)


async def test_idle_connection_closed_by_the_server_is_replaced() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.send(OK)  # then closes: an idle timeout on the server's side

    async with serve(handler) as (server, pool):
        assert await get(pool) == (200, b"ok")
        await eventually(lambda: not pool._idle)  # the pool noticed and let it go
        assert await get(pool) == (200, b"ok")
        assert server.connections == 2


async def test_pooled_connection_closed_as_the_request_arrives_is_retried_on_a_new_one() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.send(OK)
        if peer.index == 1:
            await peer.request()  # ... and closes without an answer: the race with an idle timeout
            return
        while await peer.request() is not None:
            await peer.send(OK)

    async with serve(handler) as (server, pool):
        assert await get(pool) == (200, b"ok")
        assert await get(pool) == (200, b"ok")
        assert server.connections == 2
        assert len(server.requests) == 3  # sent twice: once on the dead connection, once on a new one


async def test_retry_after_a_dead_pooled_connection_uses_a_new_one() -> None:
    """When a server restarts, every pooled connection is dead: the one retry must not take another."""
    both = asyncio.Event()

    async def handler(peer: Peer) -> None:
        await peer.request()
        if peer.index <= 2:
            if peer.index == 2:
                both.set()
            await both.wait()
            await peer.send(OK)
            await peer.request()  # then closes without an answer
            return
        await peer.send(OK)
        while await peer.request() is not None:
            await peer.send(OK)

    async with serve(handler) as (server, pool):
        await asyncio.gather(get(pool), get(pool))
        assert len(pool._idle) == 2
        assert await get(pool) == (200, b"ok")
        assert server.connections == 3


async def test_new_connection_closed_before_the_answer_is_not_retried() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()  # and closes

    async with serve(handler) as (server, pool):
        with pytest.raises(HttpError, match="closed before the answer"):
            await get(pool)
        assert len(server.requests) == 1
        assert pool_is_empty(pool)


async def test_pooled_connection_cut_after_the_answer_began_is_not_retried() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.send(OK)
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\n")  # and closes

    async with serve(handler) as (server, pool):
        assert await get(pool) == (200, b"ok")
        with pytest.raises(HttpError, match="closed before the answer"):
            await get(pool)
        assert len(server.requests) == 2


# -- bodies ----------------------------------------------------------------------------------


async def test_body_cut_mid_way_raises() -> None:
    for head, parts in [
        (b"content-length: 10\r\n", b"12345"),
        (b"transfer-encoding: chunked\r\n", b"5\r\n12345\r\n"),
    ]:
        for how in ("read", "iter_chunks"):

            async def handler(peer: Peer, head: bytes = head, parts: bytes = parts) -> None:
                await peer.request()
                await peer.send(b"HTTP/1.1 200 OK\r\n" + head + b"\r\n" + parts)  # and closes

            async with serve(handler) as (_, pool):
                response = await pool.request("GET", "/x", [])
                if how == "read":
                    with pytest.raises(HttpError, match="closed before the answer ended"):
                        await response.read()
                else:
                    got: list[bytes] = []
                    with pytest.raises(HttpError, match="closed before the answer ended"):
                        async for data in response.iter_chunks():
                            got.append(data)
                    assert got == [b"12345"]
                assert pool_is_empty(pool)


async def test_close_delimited_body_ends_at_eof() -> None:
    for status_line in (b"HTTP/1.1 200 OK\r\n", b"HTTP/1.0 200 OK\r\n"):
        for how in ("read", "iter_chunks"):
            more = asyncio.Event()

            async def handler(peer: Peer, status_line: bytes = status_line, more: asyncio.Event = more) -> None:
                await peer.request()
                await peer.send(status_line + b"content-type: text/plain\r\n\r\npart one, ")
                await more.wait()
                await peer.send(b"part two")  # and closes

            async with serve(handler) as (server, pool):
                response = await pool.request("GET", "/x", [])
                more.set()
                if how == "read":
                    assert await response.read() == b"part one, part two"
                else:
                    assert b"".join(await collect(response)) == b"part one, part two"
                assert pool_is_empty(pool)
                assert await get(pool) == (200, b"part one, part two")  # on a new connection
                assert server.connections == 2


async def test_close_delimited_body_cut_by_a_reset_raises() -> None:
    headers_read = asyncio.Event()

    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\n\r\npartial")
        await headers_read.wait()
        peer.reset()

    async with serve(handler) as (_, pool):
        response = await pool.request("GET", "/x", [])
        headers_read.set()
        with pytest.raises(HttpError):
            await response.read()


async def test_chunked_body() -> None:
    async def handler(peer: Peer) -> None:
        while await peer.request() is not None:
            await peer.send(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n")
            await peer.send(b"1\r\n \r\n5\r\nworld\r\n")
            await peer.send(b"0\r\nx-trailer: 1\r\n\r\n")

    async with serve(handler) as (server, pool):
        assert await get(pool) == (200, b"hello world")
        response = await pool.request("GET", "/x", [])
        assert b"".join(await collect(response)) == b"hello world"
        assert server.connections == 1


async def test_204_and_304_have_no_body_and_keep_the_connection() -> None:
    answers = [
        b"HTTP/1.1 204 No Content\r\ncontent-encoding: gzip\r\n\r\n",
        b"HTTP/1.1 304 Not Modified\r\ncontent-length: 10\r\n\r\n",
        OK,
    ]
    async with serve(answering(*answers)) as (server, pool):
        assert await get(pool) == (204, b"")
        response = await pool.request("GET", "/x", [])
        assert (response.status, await collect(response)) == (304, [])
        assert await get(pool) == (200, b"ok")
        assert server.connections == 1


async def test_interim_1xx_answers_are_skipped() -> None:
    answers = [
        b"HTTP/1.1 100 Continue\r\n\r\n" + OK,
        b"HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nyes",
    ]
    async with serve(answering(*answers)) as (server, pool):
        assert await get(pool) == (200, b"ok")
        response = await pool.request("GET", "/x", [])
        assert (response.status, response.headers, await response.read()) == (200, {"content-length": "3"}, b"yes")
        assert await get(pool) == (200, b"yes")
        assert server.connections == 1


async def test_compressed_bodies_are_decoded() -> None:
    text = b"The quick brown fox jumps over the lazy dog. " * 200
    packed_by_encoding = {"gzip": gzip.compress(text), "x-gzip": gzip.compress(text), "deflate": zlib.compress(text)}
    for encoding, packed in packed_by_encoding.items():
        head = b"HTTP/1.1 200 OK\r\ncontent-encoding: %s\r\ncontent-length: %d\r\n\r\n"
        length = head % (encoding.encode(), len(packed))
        pieces = [packed[i : i + 100] for i in range(0, len(packed), 100)]
        chunked = b"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\ntransfer-encoding: chunked\r\n\r\n" % encoding.encode()
        chunked += b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"
        async with serve(answering(length + packed, chunked)) as (_, pool):
            assert await get(pool) == (200, text)
            response = await pool.request("GET", "/x", [])
            assert b"".join(await collect(response)) == text


async def test_corrupt_compressed_body_raises() -> None:
    body = b"not gzip at all"
    answer = b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
    async with serve(answering(answer)) as (_, pool):
        with pytest.raises(HttpError, match="compressed body is corrupt"):
            await get(pool)
        response = await pool.request("GET", "/x", [])
        with pytest.raises(HttpError, match="compressed body is corrupt"):
            await collect(response)


async def test_streamed_body_arrives_chunk_by_chunk() -> None:
    release = asyncio.Event()

    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        await release.wait()
        await peer.send(b"6\r\nsecond\r\n0\r\n\r\n")

    async with serve(handler) as (_, pool), asyncio.timeout(2):
        response = await pool.request("POST", "/x", [], b"{}")
        got: list[bytes] = []
        async for data in response.iter_chunks():
            got.append(data)
            if len(got) == 1:
                assert not release.is_set()  # the server still holds the rest
                release.set()
        assert got == [b"first", b"second"]


async def test_large_streamed_body_with_a_slow_consumer() -> None:
    """Reading pauses once PAUSE_ABOVE bytes wait for the consumer, and a paused read never times out."""
    body = bytes(range(256)) * (6 * 4096)  # 6 MiB

    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body))
        for i in range(0, len(body), 65536):
            await peer.send(body[i : i + 65536])
        await peer.eof()  # and keeps the connection

    async with serve(handler, read_timeout=0.15) as (_, pool):
        response = await pool.request("GET", "/x", [])
        got: list[bytes] = []
        async for data in response.iter_chunks():
            got.append(data)
            if len(got) == 1:
                await eventually(lambda: response._conn is not None and response._conn.paused)
                await asyncio.sleep(0.4)  # read timeouts pass: a lagging consumer is not a silent server
                assert response._conn is not None and response._conn.paused
            await asyncio.sleep(0.001)
        assert b"".join(got) == body
        assert max(map(len, got)) <= PAUSE_ABOVE + (512 << 10)
        assert len(pool._idle) == 1


async def test_large_body_read_whole() -> None:
    body = b"x" * (3 * PAUSE_ABOVE)
    answer = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
    async with serve(answering(answer)) as (_, pool), asyncio.timeout(2):
        assert await get(pool) == (200, body)
        assert len(pool._idle) == 1


# -- timeouts --------------------------------------------------------------------------------


async def test_read_timeout_waiting_for_the_headers() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.eof()  # never answers

    async with serve(handler, read_timeout=0.1) as (server, pool):
        start = time.monotonic()
        with pytest.raises(HttpError, match="timed out"):
            await get(pool)
        assert time.monotonic() - start < 0.6
        await server.client_closed(1)
        assert pool_is_empty(pool)


async def test_read_timeout_counts_from_the_last_byte() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n")
        for byte in b"trickled":  # longer in all than the timeout, never silent for as long
            await asyncio.sleep(0.03)
            await peer.send(bytes([byte]))
        await peer.eof()  # then stalls one byte short

    async with serve(handler, read_timeout=0.25) as (server, pool):
        response = await pool.request("GET", "/x", [])
        got: list[bytes] = []
        start = time.monotonic()
        with pytest.raises(HttpError, match="timed out"):
            async for data in response.iter_chunks():
                got.append(data)
                start = time.monotonic()
        assert b"".join(got) == b"trickled"
        assert time.monotonic() - start < 0.75  # 0.25 s after the last byte, not a second later
        await server.client_closed(1)


# -- cancellation and close ------------------------------------------------------------------


def _holding_handler(sent: asyncio.Event) -> Handler:
    """Answers with the headers and part of a body, then holds the connection until the client closes it."""

    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n" + b"x" * 10)
        sent.set()
        await peer.eof()

    return handler


async def test_cancel_while_waiting_for_the_headers() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.eof()

    async with serve(handler) as (server, pool):
        task = asyncio.create_task(get(pool))
        await eventually(lambda: bool(server.requests))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await server.client_closed(1)
        await eventually(lambda: pool_is_empty(pool))


async def test_cancel_mid_body_aborts_the_connection() -> None:
    for how in ("read", "iter_chunks"):
        sent = asyncio.Event()
        async with serve(_holding_handler(sent)) as (server, pool):
            response = await pool.request("GET", "/x", [])
            await sent.wait()
            task = asyncio.create_task(response.read() if how == "read" else collect(response))
            await asyncio.sleep(0.01)  # the read has begun and waits for more
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await server.client_closed(1)
            await eventually(lambda: pool_is_empty(pool))


async def test_abandoned_iteration_aborts_the_connection() -> None:
    sent = asyncio.Event()
    async with serve(_holding_handler(sent)) as (server, pool):
        response = await pool.request("GET", "/x", [])
        async with contextlib.aclosing(response.iter_chunks()) as chunks:
            async for data in chunks:
                assert data == b"x" * 10
                break
        await server.client_closed(1)
        await eventually(lambda: pool_is_empty(pool))


async def test_response_close() -> None:
    sent = asyncio.Event()
    async with serve(_holding_handler(sent)) as (server, pool):
        response = await pool.request("GET", "/x", [])
        await sent.wait()
        reader = asyncio.create_task(response.read())
        await asyncio.sleep(0.01)
        response.close()  # from elsewhere while a reader waits: the reader must not hang
        async with asyncio.timeout(1):
            with pytest.raises(HttpError, match="closed"):
                await reader
        await server.client_closed(1)
        await eventually(lambda: pool_is_empty(pool))

    async with serve(answering(OK)) as (server, pool):
        response = await pool.request("GET", "/x", [])
        assert await response.read() == b"ok"
        response.close()  # after the end: nothing to give up, the connection stays
        assert await get(pool) == (200, b"ok")
        assert server.connections == 1


async def test_pool_close() -> None:
    sent = asyncio.Event()
    holding = _holding_handler(sent)

    async def handler(peer: Peer) -> None:
        if peer.index == 1:
            await holding(peer)
        else:
            await answering(OK)(peer)

    async with serve(handler) as (server, pool):
        response = await pool.request("GET", "/x", [])  # busy on connection 1
        assert await get(pool) == (200, b"ok")  # idle on connection 2
        await pool.close()
        with pytest.raises(HttpError):
            await response.read()
        await server.client_closed(1)
        await server.client_closed(2)
        with pytest.raises(HttpError, match="the client is closed"):
            await get(pool)
        assert pool_is_empty(pool)


async def test_pool_closed_while_connecting() -> None:
    async with serve(answering(OK)) as (server, pool):
        task = asyncio.create_task(get(pool))
        await asyncio.sleep(0)  # the request is connecting
        await pool.close()
        with pytest.raises(HttpError, match="the client is closed"):
            await task
        await server.client_closed(1)
        assert pool_is_empty(pool)


# -- broken servers --------------------------------------------------------------------------


async def test_garbage_answers_raise() -> None:
    for garbage in [
        b"garbage\r\n\r\n",
        b"HTTP/1.1 2x0 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n",
    ]:

        async def handler(peer: Peer, garbage: bytes = garbage) -> None:
            await peer.request()
            await peer.send(garbage)
            await peer.eof()

        async with serve(handler) as (server, pool):
            with pytest.raises(HttpError, match="not valid HTTP/1.1|switched protocols"):
                await get(pool)
            await server.client_closed(1)
            await eventually(lambda: pool_is_empty(pool))


async def test_unsolicited_data_on_an_idle_connection_drops_it() -> None:
    for with_answer, extra in [
        (True, b"HTTP/1.1 200 OK\r\n"),  # in the same packet as the answer
        (False, b"HTTP/1.1 200 OK\r\n"),  # later, while idle: the start of an answer
        (False, b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"),  # later: a whole one
    ]:
        idle = asyncio.Event()

        async def handler(
            peer: Peer, with_answer: bool = with_answer, extra: bytes = extra, idle: asyncio.Event = idle
        ) -> None:
            await peer.request()
            if with_answer:
                await peer.send(OK + extra)
            else:
                await peer.send(OK)
                await idle.wait()
                await peer.send(extra)
            await peer.eof()

        async with serve(handler) as (server, pool):
            assert await get(pool) == (200, b"ok")
            idle.set()
            await server.client_closed(1)
            await eventually(lambda: pool_is_empty(pool))


# -- connecting and error messages -----------------------------------------------------------


async def test_connect_failures() -> None:
    refused = ConnectionPool(f"http://127.0.0.1:{free_port()}", connect_timeout=1.0, read_timeout=1.0)
    with pytest.raises(HttpError, match=r"cannot connect to 127\.0\.0\.1:\d+ \(ConnectionRefusedError\)"):
        await refused.request("GET", "/x?key=" + SECRET, [("x-goog-api-key", SECRET)])
    async with serve(answering(OK), connect_timeout=0.0) as (_, pool):
        with pytest.raises(HttpError, match=r"timed out connecting to 127\.0\.0\.1:\d+$"):
            await pool.request("GET", "/x?key=" + SECRET, [("x-goog-api-key", SECRET)])


async def test_error_messages_never_hold_the_url_or_a_header() -> None:
    async def handler(peer: Peer) -> None:
        request = await peer.request()
        assert request is not None
        if b"/cut" in request:
            await peer.send(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n12345")
        elif b"/garbage" in request:
            await peer.send(b"garbage\r\n\r\n")
        elif b"/close" in request:
            return
        await peer.eof()

    errors: list[BaseException] = []
    async with serve(handler, read_timeout=0.1) as (_, pool):
        client = GeminiClient(pool)
        for path in ("/cut", "/garbage", "/close", "/silent"):
            with pytest.raises(UpstreamUnavailable) as info:
                answer = await client.send(ApiKey(SECRET), "POST", path, body=b"{}", query={"key": SECRET})
                await answer.read()
            errors.append(info.value)
    for pool in (
        ConnectionPool(f"http://127.0.0.1:{free_port()}", connect_timeout=1.0, read_timeout=1.0),
        ConnectionPool(f"http://127.0.0.1:{free_port()}", connect_timeout=0.0, read_timeout=1.0),
    ):
        with pytest.raises(UpstreamUnavailable) as info:
            await GeminiClient(pool).send(ApiKey(SECRET), "GET", "/x", query={"key": SECRET})
        errors.append(info.value)
    assert len(errors) == 6
    for error in errors:
        chain: BaseException | None = error
        while chain is not None:
            assert "secretpart" not in f"{chain} {chain!r}"
            chain = chain.__cause__ or chain.__context__


# -- the same on uvloop ----------------------------------------------------------------------

_ASYNC_TESTS = [f for name, f in list(globals().items()) if name.startswith("test_") and inspect.iscoroutinefunction(f)]


@pytest.mark.parametrize("test", _ASYNC_TESTS, ids=[f.__name__.removeprefix("test_") for f in _ASYNC_TESTS])
def test_under_uvloop(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    uvloop = pytest.importorskip("uvloop")
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(test())

"""Bodies (lengths, chunks, close-delimited, 1xx, compression, streaming, large) and read timeouts."""

from __future__ import annotations

import asyncio
import gzip
import time
import zlib

import pytest

from gemini_proxy.upstream.http import PAUSE_ABOVE, HttpError
from tests.upstream.httpclient.rawserver import OK, Peer, answering, collect, eventually, get, pool_is_empty, serve

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
                await eventually(lambda: response.body.paused)
                await asyncio.sleep(0.4)  # read timeouts pass: a lagging consumer is not a silent server
                assert response.body.paused
            await asyncio.sleep(0.001)
        assert b"".join(got) == body
        assert max(map(len, got)) <= PAUSE_ABOVE + (512 << 10)
        assert pool.idle_count == 1


async def test_large_body_read_whole() -> None:
    body = b"x" * (3 * PAUSE_ABOVE)
    answer = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
    async with serve(answering(answer)) as (_, pool), asyncio.timeout(2):
        assert await get(pool) == (200, body)
        assert pool.idle_count == 1


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

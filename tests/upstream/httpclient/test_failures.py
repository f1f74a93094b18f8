"""Cancellation and close, broken servers, connect failures, and error messages that never hold a key."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from gemini_proxy.errors import UpstreamUnavailable
from gemini_proxy.upstream.client import GeminiClient
from gemini_proxy.upstream.http import ConnectionPool, HttpError
from gemini_proxy.upstream.keys import ApiKey
from tests.servers import free_port
from tests.upstream.httpclient.rawserver import (
    OK,
    SECRET,
    Handler,
    Peer,
    answering,
    collect,
    eventually,
    get,
    pool_is_empty,
    serve,
)

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

"""One connection's states, driven against a raw server: IDLE -> AWAITING_HEADERS -> RECEIVING -> IDLE or CLOSED."""

from __future__ import annotations

import asyncio

import pytest

from gemini_proxy.upstream.http import Connection, ConnectionState, HttpError, StaleConnection
from tests.upstream.httpclient.rawserver import OK, Peer, RawServer, answering, eventually, serve

GET = b"GET /x HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n"


class Opened:
    def __init__(self) -> None:
        self.idle = 0
        self.lost = 0


async def connect(server: RawServer, opened: Opened, read_timeout: float = 2.0) -> Connection:
    def made() -> Connection:
        return Connection(
            read_timeout=read_timeout,
            on_idle=lambda _: setattr(opened, "idle", opened.idle + 1),
            on_lost=lambda _: setattr(opened, "lost", opened.lost + 1),
        )

    _, conn = await asyncio.get_running_loop().create_connection(made, "127.0.0.1", server.port)
    return conn




async def test_a_keep_alive_answer_goes_through_every_state_and_back_to_idle() -> None:
    go_on = asyncio.Event()

    async def handler(peer: Peer) -> None:
        while await peer.request() is not None:
            await peer.send(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nha")
            await go_on.wait()
            go_on.clear()
            await peer.send(b"lf")

    async with serve(handler) as (raw, _):
        opened = Opened()
        conn = await connect(raw, opened)
        assert conn.state is ConnectionState.IDLE
        headers = conn.start(GET)
        assert conn.state is ConnectionState.AWAITING_HEADERS
        response = await headers
        assert conn.state is ConnectionState.RECEIVING and response.status == 200
        go_on.set()
        assert await response.read() == b"half"
        assert conn.state is ConnectionState.IDLE
        assert (opened.idle, opened.lost, conn.answered) == (1, 0, 1)
        again = await conn.start(GET)  # the same connection takes the next request
        go_on.set()
        assert await again.read() == b"half"
        assert (opened.idle, conn.answered) == (2, 2)
        conn.close()
        assert conn.state is ConnectionState.CLOSED
        await eventually(lambda: opened.lost == 1)


async def test_an_answer_that_closes_the_connection_ends_closed() -> None:
    answer = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok"
    async with serve(answering(answer)) as (raw, _):
        opened = Opened()
        conn = await connect(raw, opened)
        response = await conn.start(GET)
        assert await response.read() == b"ok"
        assert conn.state is ConnectionState.CLOSED and opened.idle == 0
        await eventually(lambda: opened.lost == 1)
        with pytest.raises(StaleConnection):  # closed after an answer: a caller may send elsewhere
            conn.start(GET)


async def test_a_silent_server_times_out_to_closed() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.eof()

    async with serve(handler) as (raw, _):
        opened = Opened()
        conn = await connect(raw, opened, read_timeout=0.1)
        with pytest.raises(HttpError, match="timed out"):
            await conn.start(GET)
        assert conn.state is ConnectionState.CLOSED
        await eventually(lambda: opened.lost == 1)


async def test_a_busy_connection_takes_no_second_request() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.eof()

    async with serve(handler) as (raw, _):
        conn = await connect(raw, Opened())
        pending = conn.start(GET)
        with pytest.raises(HttpError, match="not free"):
            conn.start(GET)
        assert conn.state is ConnectionState.AWAITING_HEADERS
        conn.abort()
        assert conn.state is ConnectionState.CLOSED
        with pytest.raises(HttpError):
            await pending


async def test_an_idle_connection_the_server_closes_is_closed_and_lost() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.send(OK)
        # and the server closes it (RawServer closes when the handler returns)

    async with serve(handler) as (raw, _):
        opened = Opened()
        conn = await connect(raw, opened)
        assert await (await conn.start(GET)).read() == b"ok"
        await eventually(lambda: opened.lost == 1)
        assert conn.state is ConnectionState.CLOSED


async def test_a_cut_mid_body_fails_the_body_and_closes() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc")
        peer.reset()

    async with serve(handler) as (raw, _):
        opened = Opened()
        conn = await connect(raw, opened)
        response = await conn.start(GET)
        with pytest.raises(HttpError, match="closed before the answer ended"):
            await response.read()
        assert conn.state is ConnectionState.CLOSED
        await eventually(lambda: opened.lost == 1)

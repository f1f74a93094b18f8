"""``max_connections``: however many requests are in flight, no more connections are open; the rest wait."""

from __future__ import annotations

import asyncio
import socket

import pytest

from gemini_proxy.upstream.http import ConnectionPool, HttpError
from tests.servers import free_port
from tests.upstream.httpclient.rawserver import OK, Peer, RawServer, eventually, get, serve

CLOSE = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok"


def still_open(peer: Peer) -> bool:
    """Whether the client has not closed this connection, as the kernel sees it now (no FIN queued)."""
    sock = peer.writer.get_extra_info("socket")
    probe = socket.fromfd(sock.fileno(), sock.family, sock.type)
    try:
        return probe.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
    except BlockingIOError:
        return True  # nothing to read: open and quiet
    except OSError:
        return False
    finally:
        probe.close()


class Counting:
    """A server that answers after a short pause and records the most connections the client held open at once."""

    def __init__(self, answer: bytes, pause: float = 0.005) -> None:
        self.answer = answer
        self.pause = pause
        self.most = 0
        self.raw: RawServer | None = None

    async def __call__(self, peer: Peer) -> None:
        assert self.raw is not None
        live = 1 + sum(still_open(other) for other in self.raw.peers if other is not peer and not other.finished)
        self.most = max(self.most, live)
        while await peer.request() is not None:
            await asyncio.sleep(self.pause)
            await peer.send(self.answer)
            if self.answer is CLOSE:
                break


@pytest.mark.parametrize("answer", [OK, CLOSE], ids=["keep-alive", "connection-close"])
async def test_many_concurrent_requests_never_hold_more_than_max_connections(answer: bytes) -> None:
    counting = Counting(answer)
    waits: list[float] = []
    async with serve(counting, max_connections=3, on_wait=waits.append) as (raw, pool):
        counting.raw = raw
        most_in_pool = 0

        async def one() -> tuple[int, bytes]:
            nonlocal most_in_pool
            result = await get(pool)
            most_in_pool = max(most_in_pool, pool.open_count)
            return result

        results = await asyncio.gather(*(one() for _ in range(40)))
        assert results == [(200, b"ok")] * 40
        assert counting.most <= 3 and most_in_pool <= 3
        if answer is OK:
            assert raw.connections == 3  # the waiters were given the busy ones as they came free
        else:
            assert raw.connections == 40  # each connection answered once, and its room went to the next
        assert len(waits) == 37 and all(wait > 0 for wait in waits)
        assert pool.waiting == 0


async def test_a_waiter_that_gives_up_leaves_no_room_taken() -> None:
    release = asyncio.Event()

    async def handler(peer: Peer) -> None:
        while await peer.request() is not None:
            await release.wait()
            await peer.send(OK)

    async with serve(handler, max_connections=1) as (raw, pool):
        first = asyncio.ensure_future(get(pool))
        await eventually(lambda: len(raw.requests) == 1)
        waiting = asyncio.ensure_future(get(pool))
        await eventually(lambda: pool.waiting == 1)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert pool.waiting == 0
        release.set()
        assert await first == (200, b"ok")
        assert await get(pool) == (200, b"ok")  # the one connection is free again
        assert raw.connections == 1 and pool.open_count == 1


async def test_a_failed_connect_gives_its_room_to_the_next_request() -> None:
    pool = ConnectionPool(f"http://127.0.0.1:{free_port()}", connect_timeout=1.0, read_timeout=1.0, max_connections=1)
    try:
        results = await asyncio.gather(*(get(pool) for _ in range(3)), return_exceptions=True)
        assert all(isinstance(result, HttpError) and "cannot connect" in str(result) for result in results)
        assert pool.open_count == 0 and pool.waiting == 0
    finally:
        await pool.close()


async def test_closing_the_pool_fails_the_waiting_requests() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.eof()

    async with serve(handler, max_connections=1) as (raw, pool):
        first = asyncio.ensure_future(get(pool))
        await eventually(lambda: len(raw.requests) == 1)
        waiting = asyncio.ensure_future(get(pool))
        await eventually(lambda: pool.waiting == 1)
        await pool.close()
        for request in (first, waiting):
            with pytest.raises(HttpError):
                await request


def test_max_connections_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_connections"):
        ConnectionPool("http://127.0.0.1:1", connect_timeout=1, read_timeout=1, max_connections=0)

"""api/accept.py: a busy event loop still accepts every waiting connection in one turn.

Each turn of the loop is made to take ``TURN`` seconds of work (as relaying hundreds of streams
does), then ``CLIENTS`` connections arrive together. On libuv's own server one is accepted per
turn (the control below: ``CLIENTS`` turns); on ``GreedyLoop``'s, all of them in a turn or two.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest
import trustme
import uvloop

from gemini_proxy.api.accept import GreedyLoop, GreedyServer

CLIENTS = 40
TURN = 0.02  # seconds of work in every turn of the loop
T = TypeVar("T")


class Counting(asyncio.Protocol):
    made: list[float]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.made.append(time.monotonic())
        transport.write(b"hello")  # type: ignore[attr-defined]


async def busy_turns(stop: asyncio.Event) -> None:
    while not stop.is_set():
        time.sleep(TURN)  # the turn's work: blocks the loop, as CPU-bound callbacks do
        await asyncio.sleep(0)


async def seconds_to_accept_all() -> float:
    """Seconds from ``CLIENTS`` connections arriving together to the last one's ``connection_made``."""
    made: list[float] = []
    protocol = type("P", (Counting,), {"made": made})
    server = await asyncio.get_running_loop().create_server(protocol, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    stop = asyncio.Event()
    busy = asyncio.create_task(busy_turns(stop))
    await asyncio.sleep(TURN * 2)
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(CLIENTS)]  # queued by the kernel
    arrived = time.monotonic()
    try:
        while len(made) < CLIENTS and time.monotonic() - arrived < 10:
            await asyncio.sleep(0)
        assert len(made) == CLIENTS
        for client in clients:
            client.settimeout(5)
            assert client.recv(5) == b"hello"  # each accepted connection is served by its protocol
        return max(made) - arrived
    finally:
        stop.set()
        await busy
        for client in clients:
            client.close()
        server.close()
        await server.wait_closed()


def run(main: Coroutine[Any, Any, T], loop_factory: Callable[[], asyncio.AbstractEventLoop]) -> T:
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(main)


def test_a_busy_loop_accepts_all_waiting_connections_in_a_turn_or_two() -> None:
    greedy = run(seconds_to_accept_all(), GreedyLoop)
    assert greedy < TURN * 8, f"{greedy:.3f} s to accept {CLIENTS} connections"


def test_libuvs_own_server_accepts_one_a_turn() -> None:
    """The control: why GreedyLoop exists. If a libuv release accepts in a loop again, this fails
    and api/accept.py can go."""
    plain = run(seconds_to_accept_all(), uvloop.new_event_loop)
    assert plain > TURN * (CLIENTS / 2), f"{plain:.3f} s to accept {CLIENTS} connections"


def test_closing_the_server_stops_accepting() -> None:
    async def scenario() -> None:
        server = await asyncio.get_running_loop().create_server(asyncio.Protocol, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        assert server.is_serving()  # the rest of asyncio.Server is uvloop's
        server.close()
        await server.wait_closed()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2)

    run(scenario(), GreedyLoop)


def test_a_tls_server_is_left_to_libuv() -> None:
    """A TLS server's handshake is libuv's: GreedyLoop hands it back as it is, and it still serves."""
    ca = trustme.CA()
    server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ssl)
    client_ssl = ssl.create_default_context()
    ca.configure_trust(client_ssl)

    async def scenario() -> None:
        made: list[float] = []
        protocol = type("P", (Counting,), {"made": made})
        server = await asyncio.get_running_loop().create_server(protocol, "127.0.0.1", 0, ssl=server_ssl)
        assert not isinstance(server, GreedyServer)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_ssl, server_hostname="127.0.0.1")
        assert await reader.readexactly(5) == b"hello"
        writer.close()
        server.close()
        await server.wait_closed()

    run(scenario(), GreedyLoop)

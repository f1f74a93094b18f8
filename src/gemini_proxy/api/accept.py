"""The event loop ``serve`` runs on: uvloop's, with every waiting connection accepted at once.

libuv accepts one connection per turn of the loop (since libuv 1.45, libuv/libuv#3696: "don't
accept() connections in a loop"). That is cheap while turns are short; under load a turn runs
every callback that is ready, and with 512 streams each turn relays up to 512 frames, 10-20 ms
of work. Connections that arrive together then wait in the kernel's queue, one accepted per turn:
measured on the field benchmark's 512 paced streams, the listening socket still held 391
connections 1 s after they arrived, and the last streams' first byte came 1.3-2 s late while
the proxy itself answered each within 170 ms of accepting it.

``GreedyLoop.create_server`` keeps libuv's server (uvicorn closes it on shutdown as before) and
watches a duplicate of each listening socket as well; when it is readable, every connection
waiting is accepted, up to ``BATCH`` a turn, and handed to the server's protocol through
``connect_accepted_socket``, so that uvicorn's bookkeeping is the same for both. Only for one
worker (``cli.py``): workers sharing a listening socket keep libuv's one a turn, which leaves
some of a burst to each of them instead of all of it to the first one awake. What it costs to
keep: it relies on uvloop's ``Loop`` being subclassable, and the wrapper forwards asyncio's
``Server`` methods (uvicorn calls ``close``, ``wait_closed`` and reads ``sockets``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Any

import uvloop

log = logging.getLogger("gemini_proxy")

BATCH = 1024  # connections accepted in one turn at most: the rest wait for the next turn


class GreedyLoop(uvloop.Loop):
    """uvloop's loop; servers made by ``create_server`` accept every waiting connection a turn."""

    async def create_server(self, protocol_factory: Any, *args: Any, **kwargs: Any) -> asyncio.AbstractServer:  # type: ignore[override]
        server = await super().create_server(protocol_factory, *args, **kwargs)
        if kwargs.get("ssl") is not None:  # a TLS server's handshake is libuv's to do: left as it is
            return server
        return GreedyServer(self, server, protocol_factory)


class GreedyServer(asyncio.AbstractServer):
    """``server`` (uvloop's), with a reader on a duplicate of each listening socket that accepts
    whatever is waiting."""

    def __init__(self, loop: asyncio.AbstractEventLoop, server: asyncio.AbstractServer, protocol_factory: Any) -> None:
        self._loop = loop
        self._server = server
        self._factory = protocol_factory
        self._listeners: list[socket.socket] = []
        self._pending: set[asyncio.Task[Any]] = set()
        for sock in self.sockets:
            listener = socket.socket(sock.family, sock.type, sock.proto, fileno=os.dup(sock.fileno()))
            listener.setblocking(False)
            self._listeners.append(listener)
            loop.add_reader(listener.fileno(), self._accept, listener)

    def _accept(self, listener: socket.socket) -> None:
        for _ in range(BATCH):
            try:
                conn, _ = listener.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:  # EMFILE and the like: libuv's own accept reports it too
                log.warning(f"accepting a connection failed: {exc}")
                return
            conn.setblocking(False)
            if conn.family in (socket.AF_INET, socket.AF_INET6):
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = self._loop.create_task(self._loop.connect_accepted_socket(self._factory, conn))
            self._pending.add(task)
            task.add_done_callback(self._connected)

    def _connected(self, task: asyncio.Task[Any]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning(f"a connection could not be set up: {task.exception()}")

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return tuple(getattr(self._server, "sockets", None) or ())

    def close(self) -> None:
        for listener in self._listeners:
            self._loop.remove_reader(listener.fileno())
            listener.close()
        self._listeners = []
        self._server.close()

    async def wait_closed(self) -> None:
        await self._server.wait_closed()

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._server.is_serving()

    async def start_serving(self) -> None:
        await self._server.start_serving()

    async def serve_forever(self) -> None:
        await self._server.serve_forever()

"""The proxy and the simulator as ASGI apps in the test process: no sockets, no subprocesses.

Both apps run, lifespans and all, on one event loop in a background thread (an anyio blocking
portal); the proxy sends upstream through ``ASGITransport(simulator app)``, the seam under its
``GeminiClient``, and tests drive each app with a synchronous ``httpx.Client`` whose transport
hands every request to ``httpx.ASGITransport`` on that loop. The objects look like
``ServerProcess`` where tests need them to: ``.url`` and ``.http`` (a client with ``base_url``).

What this cannot show, and stays on real servers (``tests/servers.py``): sockets (connection
reuse, a client that leaves mid-stream, timeouts of a client), logs, processes, workers, CLIs,
browsers. ``httpx.ASGITransport`` hands a client the answer once the app has finished it: a
stream's chunks are all there, but not their timing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
from collections.abc import Awaitable, Callable, Iterator, MutableMapping, Sequence
from typing import Any

import anyio.from_thread
import httpx
import pytest

from gemini_proxy.app import create_app
from gemini_proxy.config import Settings
from gemini_proxy.simulator.app import create_app as create_simulator_app
from gemini_proxy.simulator.config import SimulatorConfig
from gemini_proxy.simulator.server import add_cli_arguments, config_from_args
from gemini_proxy.upstream.http import ASGITransport
from tests.servers import SIM_KEYS

ASGIApp = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]


class _PortalTransport(httpx.BaseTransport):
    """A synchronous httpx transport that runs each request through the app on the portal's loop."""

    def __init__(self, portal: anyio.from_thread.BlockingPortal, app: ASGIApp) -> None:
        self._portal = portal
        self._asgi = httpx.ASGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        content = request.read()

        async def send() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            forwarded = httpx.Request(request.method, request.url, headers=request.headers, content=content)
            response = await self._asgi.handle_async_request(forwarded)
            body = b"".join([part async for part in response.stream])  # type: ignore[union-attr]
            return response.status_code, response.headers.raw, body

        status, headers, body = self._portal.call(send)
        return httpx.Response(status, headers=headers, stream=httpx.ByteStream(body), request=request)


class Lifespan:
    """Drives an ASGI app's lifespan protocol: startup before the first request, shutdown at the end."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.from_app: asyncio.Queue[MutableMapping[str, Any]] = asyncio.Queue()
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self.task = asyncio.get_running_loop().create_task(app(scope, self.to_app.get, self.from_app.put))

    async def say(self, kind: str) -> None:
        await self.to_app.put({"type": f"lifespan.{kind}"})
        reply = asyncio.ensure_future(self.from_app.get())
        await asyncio.wait([reply, self.task], return_when=asyncio.FIRST_COMPLETED)
        if not reply.done():
            reply.cancel()
            self.task.result()  # raises what the app raised
            raise RuntimeError(f"the app ended its lifespan before {kind} completed")
        message = reply.result()
        if message["type"] != f"lifespan.{kind}.complete":
            raise RuntimeError(f"lifespan {kind} failed: {message.get('message', '')}")

    async def stop(self) -> None:
        await self.say("shutdown")
        await self.task


class LocalServer:
    """An ASGI app running in this process, and a client to it (``.http``, relative paths)."""

    def __init__(self, name: str, portal: anyio.from_thread.BlockingPortal, app: ASGIApp) -> None:
        self.url = f"http://{name}.test"
        self.app = app
        self.http = httpx.Client(base_url=self.url, transport=_PortalTransport(portal, app), timeout=30)


class LocalSimulator(LocalServer):
    def __init__(self, portal: anyio.from_thread.BlockingPortal, config: SimulatorConfig) -> None:
        super().__init__("simulator", portal, create_simulator_app(config))
        self.config = config


class Local:
    """The simulator and a proxy in front of it, in this process, started and stopped on ``portal``."""

    def __init__(self, portal: anyio.from_thread.BlockingPortal) -> None:
        self.portal = portal
        self._stops: list[Callable[[], Awaitable[None]]] = []

    def simulator(self, *args: str, keys: Sequence[str] = SIM_KEYS) -> LocalSimulator:
        """A simulator as ``gemini-proxy fake-upstream --keys ... *args`` would make it."""
        parser = argparse.ArgumentParser()
        add_cli_arguments(parser)
        config = config_from_args(parser.parse_args(["--keys", ",".join(keys), *args]))
        sim = LocalSimulator(self.portal, config)
        self._start(sim.app)
        return sim

    def proxy(self, upstream: LocalServer, *, keys: Sequence[str] = SIM_KEYS, **settings: Any) -> LocalServer:
        """A proxy sending upstream to ``upstream``'s app; ``settings`` are ``Settings`` fields
        (``max_wait=0`` for ``GEMINI_PROXY_MAX_WAIT=0``). Like ``start_proxy``: state in memory, no keys file."""
        options: dict[str, Any] = {
            "keys": ",".join(keys), "keys_file": None, "db": "", "upstream_url": "http://upstream.test", **settings
        }
        app = create_app(Settings(_env_file=None, **options), transport=ASGITransport(upstream.app))  # type: ignore[call-arg]
        server = LocalServer("proxy", self.portal, app)
        self._start(app)
        return server

    def _start(self, app: ASGIApp) -> None:
        async def start() -> Lifespan:
            lifespan = Lifespan(app)
            await lifespan.say("startup")
            return lifespan

        self._stops.append(self.portal.call(start).stop)

    def close(self) -> None:
        for stop in reversed(self._stops):  # the proxy before the simulator it sends to
            self.portal.call(stop)
        self._stops.clear()
        gc.unfreeze()  # the proxy's start-up froze the test process's objects (app.settle_garbage_collector)


@pytest.fixture(scope="session")
def portal() -> Iterator[anyio.from_thread.BlockingPortal]:
    """One event loop in a background thread for every in-process app of this test process."""
    with anyio.from_thread.start_blocking_portal() as running:
        yield running


@pytest.fixture
def local(portal: anyio.from_thread.BlockingPortal) -> Iterator[Local]:
    """Makes in-process simulators and proxies for one test; stops them after it."""
    made = Local(portal)
    try:
        yield made
    finally:
        with contextlib.suppress(RuntimeError):
            made.close()

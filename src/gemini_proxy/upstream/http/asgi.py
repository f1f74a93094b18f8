"""Requests served by an ASGI app in the same process: the ``Transport`` for tests, no sockets.

``ASGITransport(app)`` stands where ``ConnectionPool`` stands; each request runs the app as a
task whose ``send`` feeds the ``BodyStream`` as it goes (with the same back-pressure), so a
stream arrives chunk by chunk as it would over a socket. An app that raises, or ends without
finishing its answer, looks like a connection cut (``HttpError``); a caller that gives up (closes
the body early, or is cancelled before the headers) is a disconnect to the app: its ``receive``
says ``http.disconnect`` and what it sends after is dropped, as uvicorn does for a closed socket.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import unquote

from gemini_proxy.upstream.http.body import BodyStream, decoder_for
from gemini_proxy.upstream.http.errors import HttpError
from gemini_proxy.upstream.http.transport import Response

Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]


class _Exchange:
    """One request run through the app: the ``BodySource`` of its answer's stream."""

    def __init__(self, body: bytes | None) -> None:
        self.loop = asyncio.get_running_loop()
        self.request_body = body or b""
        self.request_sent = False
        self.headers: asyncio.Future[Response] = self.loop.create_future()
        self.stream: BodyStream | None = None
        self.finished = asyncio.Event()  # the answer ended, or the caller gave up: the app sees a disconnect
        self.go_on = asyncio.Event()
        self.go_on.set()
        self.gone = False  # the caller gave up

    async def receive(self) -> Message:
        if not self.request_sent:
            self.request_sent = True
            return {"type": "http.request", "body": self.request_body, "more_body": False}
        await self.finished.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if self.gone:
            return
        if message["type"] == "http.response.start":
            headers: dict[str, str] = {}
            for raw_name, raw_value in message.get("headers", []):
                name = raw_name.decode("latin-1").lower()
                value = raw_value.decode("latin-1")
                headers[name] = f"{headers[name]}, {value}" if name in headers else value
            self.stream = BodyStream(self, self.loop, decoder_for(headers))
            if not self.headers.done():
                self.headers.set_result(Response(int(message["status"]), headers, self.stream))
        elif message["type"] == "http.response.body" and self.stream is not None:
            lags = self.stream.feed(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                self.stream.end()  # complete: nothing more to hold back, the app may return
                self.finished.set()
                return
            if lags:
                self.go_on.clear()  # the consumer lags: the app's send waits, as a full socket would make it
            await self.go_on.wait()

    def ended(self, task: asyncio.Task[None]) -> None:
        """The app returned or raised: whatever of the answer is unfinished is cut."""
        self.finished.set()
        error = None if task.cancelled() else task.exception()
        cut = HttpError(f"the connection was closed before the answer ended ({type(error).__name__})" if error
                        else "the connection was closed before the answer ended")
        if not self.headers.done():
            self.headers.set_exception(cut)
        if self.stream is not None:
            self.stream.end(cut)  # a no-op when the body was complete

    # BodySource
    def resume(self) -> None:
        self.go_on.set()

    def abort(self) -> None:
        self.gone = True
        self.finished.set()
        self.go_on.set()


class ASGITransport:
    """Sends requests to an ASGI app (which must have been started, lifespan and all, by its owner)."""

    def __init__(
        self, app: ASGIApp, *, host: str = "upstream.test", client: tuple[str, int] = ("127.0.0.1", 1)
    ) -> None:
        self.app = app
        self.host = host
        self.client = client
        self._running: set[asyncio.Task[None]] = set()

    async def request(
        self, method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes | None = None
    ) -> Response:
        path, _, query = target.partition("?")
        raw_headers = [(b"host", self.host.encode("latin-1"))]
        raw_headers += [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
        if body is not None or method in ("POST", "PUT", "PATCH"):
            raw_headers.append((b"content-length", str(len(body or b"")).encode()))
        scope: MutableMapping[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": unquote(path),
            "raw_path": path.encode("latin-1"),
            "query_string": query.encode("latin-1"),
            "root_path": "",
            "headers": raw_headers,
            "client": self.client,
            "server": (self.host, 80),
        }
        exchange = _Exchange(body)
        async def run() -> None:
            await self.app(scope, exchange.receive, exchange.send)

        task = asyncio.get_running_loop().create_task(run())
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        task.add_done_callback(exchange.ended)
        try:
            return await exchange.headers
        except BaseException:
            exchange.abort()
            raise

    async def close(self) -> None:
        """Cancels what the app is still doing for requests sent through here."""
        tasks = list(self._running)
        for task in tasks:
            task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.gather(*tasks, return_exceptions=True)

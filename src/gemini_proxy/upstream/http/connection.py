"""One keep-alive HTTP/1.1 connection, as an ``asyncio.Protocol`` with an explicit state.

``IDLE`` (open, nothing asked) -> ``start`` -> ``AWAITING_HEADERS`` -> ``RECEIVING`` (the body
streams into a ``BodyStream``) -> ``IDLE`` again when the answer allows keep-alive, else
``CLOSED``. Any failure, a timeout, an abandoned body or the peer closing goes to ``CLOSED``,
which is final. The owner (``ConnectionPool``) hears of the two ends through ``on_idle`` and
``on_lost``; the socket is really closed when ``on_lost`` runs.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable

import httptools

from gemini_proxy.upstream.http.body import BodyStream, decoder_for
from gemini_proxy.upstream.http.errors import HttpError, StaleConnection
from gemini_proxy.upstream.http.transport import Response


class ConnectionState(enum.Enum):
    IDLE = "idle"
    AWAITING_HEADERS = "awaiting_headers"
    RECEIVING = "receiving"
    CLOSED = "closed"


IDLE = ConnectionState.IDLE
AWAITING_HEADERS = ConnectionState.AWAITING_HEADERS
RECEIVING = ConnectionState.RECEIVING
CLOSED = ConnectionState.CLOSED


class Connection(asyncio.Protocol):
    """Answers one request at a time; made by ``loop.create_connection``."""

    def __init__(
        self,
        *,
        read_timeout: float,
        on_idle: Callable[[Connection], None],
        on_lost: Callable[[Connection], None],
    ) -> None:
        self.read_timeout = read_timeout
        self._on_idle = on_idle
        self._on_lost = on_lost
        self._loop = asyncio.get_running_loop()
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.state = IDLE
        self.paused = False  # reading paused: the body's consumer lags
        self.idle_since = 0.0  # loop time the last answer ended
        self.answered = 0  # answers completed on this connection
        self._reused = False  # the current request is not the connection's first
        self._body: BodyStream | None = None
        self._headers_waiter: asyncio.Future[Response] | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._received = False  # any byte of the current answer
        self._last_read = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._delimited = True  # the body has a length or is chunked (else: ends with the connection)
        self._interim = False  # a 1xx answer is being parsed: the real one follows

    # -- the exchange ------------------------------------------------------------------------

    def start(self, data: bytes) -> asyncio.Future[Response]:
        """Writes one request; the future resolves once the answer's headers have arrived."""
        if self.state is not IDLE:
            if self.state is CLOSED and self.answered:
                raise StaleConnection("the pooled connection was closed")
            raise HttpError("the connection is not free for a request")
        self.state = AWAITING_HEADERS
        self._reused = self.answered > 0
        waiter = self._headers_waiter = self._loop.create_future()
        self._headers = []
        self._received = False
        self._last_read = self._loop.time()
        self._timer = self._loop.call_at(self._last_read + self.read_timeout, self._on_timer)
        assert self.transport is not None
        self.transport.write(data)
        return waiter

    def abort(self) -> None:
        """Closes the connection at once (with a reset if need be); any answer under way fails."""
        if self.state is not CLOSED:
            self._fail(HttpError("the connection was closed before the answer ended"))
            self.state = CLOSED
        self._stop_timer()
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        """Closes an idle connection cleanly (its socket closes once written out)."""
        if self.state is not IDLE:
            self.abort()
            return
        self.state = CLOSED
        self._stop_timer()
        if self.transport is not None:
            self.transport.close()

    def resume(self) -> None:
        """The body's consumer has caught up: read from the socket again."""
        self.paused = False
        self._last_read = self._loop.time()
        if self.transport is not None and self.state is not CLOSED:
            self.transport.resume_reading()

    def _fail(self, error: HttpError) -> None:
        waiter, self._headers_waiter = self._headers_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        body, self._body = self._body, None
        if body is not None:
            body.end(error)
        self._stop_timer()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        self._timer = None
        if self.state is not AWAITING_HEADERS and self.state is not RECEIVING:
            return
        now = self._loop.time()
        due = self._last_read + self.read_timeout
        if self.paused:  # the consumer lags, not the server: look again later
            self._timer = self._loop.call_at(now + self.read_timeout, self._on_timer)
            return
        if now < due:  # bytes came since the timer was set
            self._timer = self._loop.call_at(due, self._on_timer)
            return
        self._fail(HttpError("timed out waiting for the answer"))
        self.abort()

    def _finish(self, *, keep_alive: bool) -> None:
        self._stop_timer()
        body, self._body = self._body, None
        if body is not None:
            body.end(None)
        self.answered += 1
        if self.paused:
            self.paused = False
            if self.transport is not None and self.state is not CLOSED:
                self.transport.resume_reading()
        if self.state is CLOSED:
            return
        if keep_alive:
            self.state = IDLE
            self.idle_since = self._loop.time()
            self._on_idle(self)
        else:
            self.state = CLOSED
            if self.transport is not None:
                self.transport.close()

    # -- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._received = True
        self._last_read = self._loop.time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, HttpError):  # raised by a callback below
                self._fail(cause)
            else:
                self._fail(HttpError(f"the answer is not valid HTTP/1.1 ({type(exc).__name__})"))
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        state, self.state = self.state, CLOSED
        if state is RECEIVING and not self._delimited and exc is None:
            self._finish(keep_alive=False)  # a body that ends with the connection has ended (not if reset)
        elif state is AWAITING_HEADERS:
            if self._reused and not self._received:
                self._fail(StaleConnection("the pooled connection was closed"))
            else:
                self._fail(HttpError("the connection was closed before the answer ended"))
        elif state is RECEIVING:
            self._fail(HttpError("the connection was closed before the answer ended"))
        self._stop_timer()
        self._on_lost(self)

    def pause_writing(self) -> None:  # bodies are written whole; the transport buffers them
        pass

    def resume_writing(self) -> None:
        pass

    # -- httptools callbacks ----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.state is not AWAITING_HEADERS:  # checked at the first byte: a partial answer must not stay
            raise HttpError("an answer came that nobody asked for")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200:
            if status == 101:
                raise HttpError("the answer switched protocols")
            self._interim = True  # 100 Continue, 103 Early Hints: the real answer follows
            self._headers = []
            return
        waiter, self._headers_waiter = self._headers_waiter, None
        if self.state is not AWAITING_HEADERS or waiter is None:
            raise HttpError("an answer came that nobody asked for")
        headers: dict[str, str] = {}
        chunked = False
        length = False
        for raw_name, raw_value in self._headers:
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
            if name == "content-length":
                length = True
            elif name == "transfer-encoding":
                chunked = "chunked" in value.lower()
        self._delimited = length or chunked or status in (204, 304)
        decoder = decoder_for(headers) if "content-encoding" in headers else None
        body = self._body = BodyStream(self, self._loop, decoder)
        self.state = RECEIVING
        if not waiter.done():
            waiter.set_result(Response(status, headers, body))

    def on_body(self, data: bytes) -> None:
        body = self._body
        if body is not None and body.feed(data) and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        self._finish(keep_alive=self._parser.should_keep_alive())

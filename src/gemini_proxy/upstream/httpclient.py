"""A small pooled HTTP/1.1 client for one origin: the transport under ``client.py``.

Why not aiohttp here: the proxy's budget is 0.5 ms of CPU per request, and aiohttp's general
machinery (sessions, timers, multidicts, payloads, stream readers) costs 0.19-0.24 ms of it per
call; this client does the same job for one known origin in ~0.09 ms (``bench/clients.py``).
Parsing is httptools' (llhttp, the parser under uvicorn and Node); what remains here is the pool,
framing of one request, and handing the body over as it arrives. aiohttp is still the client for
arbitrary URLs (``media.py``).

What it does: keep-alive connections reused most-recent-first and dropped after
``keepalive_expiry`` idle seconds; ``Content-Length``, chunked and close-delimited bodies;
interim 1xx answers skipped; gzip/deflate bodies decoded; a read timeout between bytes; reading
paused while a streamed body's consumer lags; a reused connection that turns out to be closed
before any byte of the answer is retried once on a new one. Failures raise ``HttpError`` whose
message never holds a URL or a header (a key lives in one).
"""

from __future__ import annotations

import asyncio
import ssl
import time
import zlib
from collections.abc import AsyncIterator, Iterable
from urllib.parse import quote, urlsplit

import httptools

# A streamed body buffers up to this many bytes before reading from the socket pauses.
PAUSE_ABOVE = 1 << 20
# Characters left as they are in a request target ('%' too: the target may be encoded already).
_TARGET_SAFE = "!$%&'()*+,/:;=?@[]~"


class HttpError(Exception):
    """The connection failed: could not connect, was cut, timed out, or spoke broken HTTP."""


class _Fresh(HttpError):
    """A reused connection was closed before the answer began: safe to send again."""


class Response:
    """An answer whose status line and headers have arrived; the body follows."""

    __slots__ = ("status", "headers", "_conn", "_chunks", "_buffered", "_done", "_error", "_waiter", "_decoder")

    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self._conn: _Connection | None = None
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._done = False
        self._error: HttpError | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._decoder: zlib._Decompress | None = None

    async def read(self) -> bytes:
        """The whole body."""
        try:
            while not self._done:
                self._buffered = 0  # all of it is wanted: reading never pauses for read()
                conn = self._conn
                if conn is not None and conn.paused:
                    conn.resume()
                await self._wait()
        except BaseException:
            self.close()  # cancelled mid-body: the rest will never be read
            raise
        if self._error is not None:
            raise self._error
        chunks = self._chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._chunks = []
        return self._decode(data, final=True) if self._decoder is not None else data

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """Body bytes as they arrive."""
        try:
            while True:
                if self._chunks:
                    chunks, self._chunks, self._buffered = self._chunks, [], 0
                    conn = self._conn
                    if conn is not None and conn.paused:
                        conn.resume()
                    data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                    if self._decoder is not None:
                        data = self._decode(data, final=False)
                    if data:
                        yield data
                elif self._done:
                    if self._error is not None:
                        raise self._error
                    if self._decoder is not None:
                        tail = self._decode(b"", final=True)
                        self._decoder = None
                        if tail:
                            yield tail
                    return
                else:
                    await self._wait()
        finally:
            self.close()  # a no-op at the end; else (cancelled, abandoned, corrupt) the rest is given up

    def close(self) -> None:
        """Gives up on the rest of the body: an unfinished answer's connection cannot be reused."""
        if not self._done:
            conn = self._conn
            self._end(HttpError("the answer was closed before its end"))  # wakes a reader waiting elsewhere
            if conn is not None:
                conn.abort()

    # -- fed by the connection -------------------------------------------------------------

    def _end(self, error: HttpError | None) -> None:
        """The body is complete (``error`` None) or never will be."""
        self._done = True
        self._error = error
        self._conn = None
        self._wake()

    async def _wait(self) -> None:
        # Not done, so the connection is still feeding this answer: its loop saves a lookup.
        loop = self._conn._loop if self._conn is not None else asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        try:
            await waiter
        finally:
            self._waiter = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _decode(self, data: bytes, *, final: bool) -> bytes:
        assert self._decoder is not None
        try:
            out = self._decoder.decompress(data)
            return out + self._decoder.flush() if final else out
        except zlib.error as exc:
            raise HttpError(f"the answer's compressed body is corrupt ({exc})") from None


class _Connection(asyncio.Protocol):
    """One keep-alive connection; answers one request at a time."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool
        self._loop = asyncio.get_running_loop()
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.paused = False
        self.reused = False
        self.idle_since = 0.0
        self._response: Response | None = None
        self._headers_waiter: asyncio.Future[Response] | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._received = False  # any byte of the current answer
        self._last_read = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._delimited = True  # the body has a length or is chunked (else: ends with the connection)
        self._interim = False  # a 1xx answer is being parsed: the real one follows

    # -- the exchange ------------------------------------------------------------------------

    def start(self, data: bytes) -> asyncio.Future[Response]:
        response = Response()
        response._conn = self
        self._response = response
        waiter = self._headers_waiter = self._loop.create_future()
        self._headers = []
        self._received = False
        self._last_read = self._loop.time()
        self._timer = self._loop.call_at(self._last_read + self._pool.read_timeout, self._on_timer)
        assert self.transport is not None
        self.transport.write(data)
        return waiter

    def _fail(self, error: HttpError) -> None:
        waiter, self._headers_waiter = self._headers_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        response, self._response = self._response, None
        if response is not None and not response._done:
            response._end(error)
        self._stop_timer()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        self._timer = None
        if self._response is None:
            return
        now = self._loop.time()
        due = self._last_read + self._pool.read_timeout
        if self.paused:  # the consumer lags, not the server: look again later
            self._timer = self._loop.call_at(now + self._pool.read_timeout, self._on_timer)
            return
        if now < due:  # bytes came since the timer was set
            self._timer = self._loop.call_at(due, self._on_timer)
            return
        self._fail(HttpError("timed out waiting for the answer"))
        self.abort()

    def abort(self) -> None:
        self.closed = True
        self._stop_timer()
        if self.transport is not None:
            self.transport.abort()

    def resume(self) -> None:
        self.paused = False
        self._last_read = self._loop.time()
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

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
        self.closed = True
        self._pool.forget(self)
        response = self._response
        if response is not None and self._headers_waiter is None and not self._delimited and exc is None:
            self._finish(keep_alive=False)  # a body that ends with the connection has ended (not if reset)
        elif self._response is not None or self._headers_waiter is not None:
            if self.reused and not self._received:
                self._fail(_Fresh("the pooled connection was closed"))
            else:
                self._fail(HttpError("the connection was closed before the answer ended"))
        self._stop_timer()

    def pause_writing(self) -> None:  # bodies are written whole; the transport buffers them
        pass

    def resume_writing(self) -> None:
        pass

    # -- httptools callbacks ----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._response is None:  # checked at the first byte: a partial answer must not stay in the parser
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
        response = self._response
        waiter, self._headers_waiter = self._headers_waiter, None
        if response is None or waiter is None:
            raise HttpError("an answer came that nobody asked for")
        response.status = status
        headers = response.headers
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
        encoding = headers.get("content-encoding", "").strip().lower()
        if encoding in ("gzip", "x-gzip", "deflate"):
            response._decoder = zlib.decompressobj(47 if encoding != "deflate" else zlib.MAX_WBITS)
        if not waiter.done():
            waiter.set_result(response)

    def on_body(self, body: bytes) -> None:
        response = self._response
        if response is None or response._done:
            return
        response._chunks.append(body)
        response._buffered += len(body)
        if response._buffered > PAUSE_ABOVE and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        response._wake()

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        self._finish(keep_alive=self._parser.should_keep_alive())

    def _finish(self, *, keep_alive: bool) -> None:
        self._stop_timer()
        response, self._response = self._response, None
        if response is not None and not response._done:
            response._end(None)
        if self.paused:
            self.paused = False
            if self.transport is not None and not self.closed:
                self.transport.resume_reading()
        if keep_alive and not self.closed:
            self._pool.put_back(self)
        elif not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()


class ConnectionPool:
    """Keep-alive HTTP/1.1 connections to one origin (``http://host:port`` or ``https://host``)."""

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float,
        read_timeout: float,
        keepalive_expiry: float = 15.0,
        max_idle: int = 256,
        user_agent: str = "gemini-proxy",
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """``ssl_context``: for an https origin, the trust to verify it by (default: the system's)."""
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.base_path = parts.path.rstrip("/")
        self._ssl = (ssl_context or ssl.create_default_context()) if parts.scheme == "https" else None
        default_port = self.port == (443 if parts.scheme == "https" else 80)
        host_header = self.host if default_port else f"{self.host}:{self.port}"
        if ":" in self.host:  # IPv6 literal
            host_header = f"[{self.host}]" if default_port else f"[{self.host}]:{self.port}"
        self._common = f"host: {host_header}\r\nuser-agent: {user_agent}\r\n".encode("latin-1")
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.keepalive_expiry = keepalive_expiry
        self.max_idle = max_idle
        self._idle: list[_Connection] = []
        self._busy: set[_Connection] = set()  # answering now: aborted by close()
        self._closed = False

    async def request(
        self, method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes | None = None
    ) -> Response:
        """Sends one request (``target``: path and query, appended to the base URL's path) and
        returns once the answer's headers have arrived."""
        data = self._encode(method, target, headers, body)
        for attempt in range(2):
            conn = self._idle_connection() if attempt == 0 else None  # the retry takes a new one
            reused = conn is not None
            if conn is None:
                conn = await self._connect()
            self._busy.add(conn)
            conn.reused = reused
            try:
                return await conn.start(data)
            except _Fresh:
                continue  # the server had closed it while idle; one try on a new connection
            except BaseException:
                conn.abort()  # cancelled or failed before the answer: unusable
                raise
        raise HttpError("the connection was closed before the answer began")

    def _encode(self, method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes | None) -> bytes:
        if not (target.isascii() and target.isprintable()) or " " in target or "#" in target:
            target = quote(target, safe=_TARGET_SAFE)  # never a line break or space in the request line
        lines = [f"{method} {self.base_path}{target} HTTP/1.1\r\n".encode("latin-1"), self._common]
        for name, value in headers:
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
                raise ValueError(f"header {name!r} holds a line break")
            lines.append(f"{name}: {value}\r\n".encode("latin-1"))
        if body is not None:
            lines.append(b"content-length: %d\r\n\r\n" % len(body))
            lines.append(body)
        elif method in ("POST", "PUT", "PATCH"):
            lines.append(b"content-length: 0\r\n\r\n")  # Google's front end answers 411 without it
        else:
            lines.append(b"\r\n")
        return b"".join(lines)

    def _idle_connection(self) -> _Connection | None:
        idle = self._idle
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since < self.keepalive_expiry:
                return conn
            conn.abort()
        return None

    async def _connect(self) -> _Connection:
        if self._closed:
            raise HttpError("the client is closed")
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await asyncio.get_running_loop().create_connection(
                    lambda: _Connection(self),
                    self.host,
                    self.port,
                    ssl=self._ssl,
                    server_hostname=self.host if self._ssl is not None else None,
                )
        except TimeoutError:
            raise HttpError(f"timed out connecting to {self.host}:{self.port}") from None
        except (OSError, ssl.SSLError) as exc:
            raise HttpError(f"cannot connect to {self.host}:{self.port} ({type(exc).__name__})") from None
        if self._closed:  # close() ran while connecting
            conn.abort()
            raise HttpError("the client is closed")
        return conn

    def put_back(self, conn: _Connection) -> None:
        self._busy.discard(conn)
        if self._closed or len(self._idle) >= self.max_idle:
            conn.closed = True
            if conn.transport is not None:
                conn.transport.close()
            return
        conn.idle_since = time.monotonic()
        self._idle.append(conn)

    def forget(self, conn: _Connection) -> None:
        self._busy.discard(conn)
        if conn in self._idle:
            self._idle.remove(conn)

    async def close(self) -> None:
        self._closed = True
        for conn in [*self._idle, *self._busy]:
            conn.abort()
        self._idle.clear()
        self._busy.clear()

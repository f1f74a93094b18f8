"""Keep-alive connections to one origin, at most ``max_connections`` open at once.

A request takes the most recently used idle connection, else opens one while there is room,
else waits for one: a connection that finishes its answer is handed to the first waiter, and
room that a closed connection leaves goes to the first waiter too (first come, first served).
How long requests waited goes to ``on_wait``. Idle connections are dropped after
``keepalive_expiry`` seconds; a reused connection that turns out to be closed before any byte
of the answer is the one case sent again, once, on a new connection.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from collections.abc import Callable, Iterable
from urllib.parse import quote, urlsplit

from gemini_proxy.upstream.http.connection import CLOSED, Connection
from gemini_proxy.upstream.http.errors import HttpError, StaleConnection
from gemini_proxy.upstream.http.proxy import ProxyURL, open_tunnel
from gemini_proxy.upstream.http.transport import Response

# Characters left as they are in a request target ('%' too: the target may be encoded already).
_TARGET_SAFE = "!$%&'()*+,/:;=?@[]~"


class ConnectionPool:
    """Keep-alive HTTP/1.1 connections to one origin (``http://host:port`` or ``https://host``)."""

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float,
        read_timeout: float,
        max_connections: int = 256,
        keepalive_expiry: float = 15.0,
        max_idle: int | None = None,
        user_agent: str = "gemini-proxy",
        ssl_context: ssl.SSLContext | None = None,
        on_wait: Callable[[float], None] | None = None,
        proxy: ProxyURL | None = None,
    ) -> None:
        """``ssl_context``: for an https origin, the trust to verify it by (default: the system's).
        ``on_wait``: told the seconds a request waited for a connection, when it had to.
        ``proxy``: an outbound proxy every connection goes through (a CONNECT tunnel, ``proxy.py``)."""
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
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
        self.max_connections = max_connections
        self.keepalive_expiry = keepalive_expiry
        # Idle connections kept (default: all, until they expire): the connections of a burst serve the
        # next one, instead of as many new connections, each a TLS handshake with Google.
        self.max_idle = max_connections if max_idle is None else min(max_idle, max_connections)
        self._on_wait = on_wait
        self.proxy = proxy
        self._open: set[Connection] = set()  # connected, until their socket is closed
        self._idle: list[Connection] = []  # of those, the free ones, most recently used last
        self._connecting = 0  # room taken by connections being opened (or promised to a waiter)
        # Requests waiting for room: each gets a free connection, or None to open one in room kept for it.
        self._waiters: collections.deque[asyncio.Future[Connection | None]] = collections.deque()
        self._closed = False

    @property
    def open_count(self) -> int:
        """Connections open or being opened: never more than ``max_connections``."""
        return len(self._open) + self._connecting

    @property
    def idle_count(self) -> int:
        return len(self._idle)

    @property
    def waiting(self) -> int:
        """Requests waiting for a connection now."""
        return len(self._waiters)

    async def request(
        self, method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes | None = None
    ) -> Response:
        """Sends one request (``target``: path and query, appended to the base URL's path) and
        returns once the answer's headers have arrived."""
        data = self._encode(method, target, headers, body)
        for attempt in range(2):
            conn = self._idle_connection() if attempt == 0 else None  # the resend takes a new one
            if conn is None:
                conn = await self._acquire()
            try:
                return await conn.start(data)
            except StaleConnection:
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

    # -- taking and giving back --------------------------------------------------------------

    async def _acquire(self) -> Connection:
        """A new connection while there is room, else the first one given back (or room left)."""
        if self._closed:
            raise HttpError("the client is closed")
        if len(self._open) + self._connecting < self.max_connections:
            self._connecting += 1
            return await self._connect()
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Connection | None] = loop.create_future()
        self._waiters.append(waiter)
        began = loop.time()
        try:
            given = await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                given = waiter.result()  # given just as this request was cancelled: on to the next
                if given is None:
                    self._connecting -= 1  # the room kept for this request
                self._hand_on(given)
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise
        finally:
            if self._on_wait is not None:
                self._on_wait(loop.time() - began)
        if given is None:
            return await self._connect()  # the room was kept for this request
        return given

    def _idle_connection(self) -> Connection | None:
        idle = self._idle
        now = asyncio.get_running_loop().time()
        while idle:
            conn = idle.pop()
            if conn.state is not CLOSED and now - conn.idle_since < self.keepalive_expiry:
                return conn
            conn.abort()
        return None

    async def _connect(self) -> Connection:
        """Opens a connection in room already counted in ``_connecting``."""
        try:
            if self._closed:
                raise HttpError("the client is closed")
            via = f" through the outbound proxy {self.proxy.shown}" if self.proxy is not None else ""
            try:
                async with asyncio.timeout(self.connect_timeout):
                    conn = await self._open_connection()
            except TimeoutError:
                raise HttpError(f"timed out connecting to {self.host}:{self.port}{via}") from None
            except (OSError, ssl.SSLError) as exc:
                raise HttpError(f"cannot connect to {self.host}:{self.port}{via} ({type(exc).__name__})") from None
        except BaseException:
            self._connecting -= 1
            self._hand_on(None)  # the room is free again
            raise
        self._connecting -= 1
        if conn.state is not CLOSED:  # (lost already: never counted as open)
            self._open.add(conn)
        if self._closed:  # close() ran while connecting
            conn.abort()
            raise HttpError("the client is closed")
        return conn

    async def _open_connection(self) -> Connection:
        def protocol() -> Connection:
            return Connection(read_timeout=self.read_timeout, on_idle=self._idled, on_lost=self._lost)

        loop = asyncio.get_running_loop()
        server_hostname = self.host if self._ssl is not None else None
        if self.proxy is None:
            _, conn = await loop.create_connection(
                protocol, self.host, self.port, ssl=self._ssl, server_hostname=server_hostname
            )
            return conn
        sock = await open_tunnel(self.proxy, self.host, self.port)
        try:
            _, conn = await loop.create_connection(protocol, sock=sock, ssl=self._ssl, server_hostname=server_hostname)
        except BaseException:
            sock.close()
            raise
        return conn

    def _hand_on(self, given: Connection | None) -> None:
        """A free connection, or room for one (None), goes to the first waiter; else back to the pool."""
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                if given is None:
                    self._connecting += 1  # kept for the waiter until it connects
                waiter.set_result(given)
                return
        if given is not None:
            self._keep(given)

    def _keep(self, conn: Connection) -> None:
        if self._closed or len(self._idle) >= self.max_idle:
            conn.close()
            return
        self._idle.append(conn)

    def _idled(self, conn: Connection) -> None:
        """The connection finished an answer and can take another."""
        if self._waiters:
            self._hand_on(conn)
        else:
            self._keep(conn)

    def _lost(self, conn: Connection) -> None:
        """The connection's socket is closed: its room is free."""
        if conn in self._open:
            self._open.discard(conn)
            if conn in self._idle:
                self._idle.remove(conn)
            if self._waiters and not self._closed:
                self._hand_on(None)

    async def close(self) -> None:
        self._closed = True
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(HttpError("the client is closed"))
        self._waiters.clear()
        for conn in [*self._open]:
            conn.abort()
        self._idle.clear()

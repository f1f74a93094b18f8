"""The clients' side of the wire: uvicorn's httptools protocol, with bounds on what a client can
make the proxy hold before any route (or client token) is looked at.

uvicorn bounds none of it for httptools: the parser joins a header's pieces as they come (a
300 MiB header was held whole, and joining it piece by piece stalled the event loop), a silent
socket or one trickling a header byte now and then stays open for ever, and every socket is
accepted. ``BoundedHttpToolsProtocol`` adds, per connection:

* the request head (request line and headers) at most ``max_header_bytes`` (one read of the
  socket more at worst), and at most ``max_headers`` headers: past either, 431;
* the head complete within ``header_timeout`` seconds of its first byte (of the connection's
  opening, for the first request): past it, 408. Idle keep-alive connections are closed after
  uvicorn's ``timeout_keep_alive``;
* a ``Content-Length`` over ``max_body_bytes`` (``GEMINI_PROXY_MAX_REQUEST_BYTES``): 413 at once,
  before any of the body is read (the app refuses a body that grows past it as it arrives);
* at most ``max_connections`` open connections in the process: past it, a new connection gets
  503 and is closed at once (its socket is not held).

``open_files_for`` raises the process's open-file limit to what those connections and the ones
to Gemini need, as far as the hard limit allows (systemd's soft limit of 1,024 would otherwise
make the 1,000th socket fail ``accept`` before ``max_connections`` is reached).

It also writes a response's head together with the first piece of its body: uvicorn writes the
head as soon as the app starts the response, and then the body, two ``send`` system calls (and two
wake-ups of the client) where one does (``_HeadWithBody``; on loopback a write is ~5 us of CPU).

Each refusal is in the format of the surface the path names (as far as the head was read), with
``connection: close`` and an ``x-request-id``; the connection is closed after it.
"""

from __future__ import annotations

import asyncio
import http
import logging
import resource
import time
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gemini_proxy.api.asgi import request_id_for
from gemini_proxy.api.common import render_for
from gemini_proxy.errors import HeadersTooLarge, PayloadTooLarge, ProxyError, RequestTimeout, ServiceUnavailable

log = logging.getLogger("gemini_proxy")


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    max_header_bytes: int = 64 * 1024
    max_headers: int = 100
    header_timeout: float = 30.0
    max_connections: int = 2048
    max_body_bytes: int = 64 * 1024 * 1024


# Descriptors beside the sockets: the listening socket, the state store, logs, the files the proxy watches.
SPARE_FILES = 128


def open_files_for(client_connections: int, upstream_connections: int) -> int:
    """Raises the soft open-file limit to what ``client_connections`` and ``upstream_connections``
    sockets need, up to the hard limit; a hard limit below the need is one warning. The soft limit
    it leaves."""
    needed = client_connections + upstream_connections + SPARE_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        soft = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    if soft != resource.RLIM_INFINITY and soft < needed:
        log.warning(
            f"the open-file limit is {soft} (ulimit -n), under the {needed} that GEMINI_PROXY_MAX_CONNECTIONS "
            f"({client_connections}) and GEMINI_PROXY_UPSTREAM_MAX_CONNECTIONS ({upstream_connections}) need: "
            "sockets past it fail; raise the limit or lower the settings"
        )
    return soft


class _Refused(Exception):
    """Raised in a parser callback after a refusal: stops the parser."""


_last_warning: dict[str, float] = {}


def _warn(kind: str, message: str) -> None:
    """At most one warning a second per kind: a flood of refused connections is one line a second."""
    now = time.monotonic()
    if now - _last_warning.get(kind, -1.0) >= 1.0:
        _last_warning[kind] = now
        log.warning(message)


_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"  # uvicorn's interim answer to "expect: 100-continue"


class _HeadWithBody:
    """Stands for the connection's transport in each request's cycle, which writes through it.
    After ``expect_head``, the next write (the response's head; a ``100 Continue`` before it goes
    out at once) is held until the write after it (the body, or a stream's first frame), and the
    two go out in one system call, or until the end of the loop's turn: a stream whose first frame
    is late still has its head sent at once, and so has a HEAD request's answer (no body write).
    Writes keep their order, and whatever closes the socket (``close`` here, the protocol's
    refusals and shutdown) sends what is held first. A pipelined request arms ``expect_head``
    while an earlier answer may still be streaming: that answer's next frame is then held for a
    turn, in order."""

    __slots__ = ("transport", "_loop", "_held", "_expect_head")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._expect_head = False

    def expect_head(self) -> None:
        self._expect_head = True

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self.transport.writelines((held, data))  # one writev, the body not copied
        elif self._expect_head and data != _CONTINUE:
            self._expect_head = False
            self._held = data
            self._loop.call_soon(self.flush)
        else:
            self.transport.write(data)

    def flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if not self.transport.is_closing():
                self.transport.write(held)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def is_closing(self) -> bool:
        return self.transport.is_closing()


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's ``HttpToolsProtocol`` with ``ConnectionLimits``; uvicorn makes one per
    connection (``serve`` passes ``functools.partial(BoundedHttpToolsProtocol, limits=...)``)."""

    def __init__(self, *args: Any, limits: ConnectionLimits = ConnectionLimits(), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self._head_bytes = 0
        self._reading_head = True
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False
        self._content_length: bytes | None = None
        self._writer: _HeadWithBody | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            _warn("connections", f"refusing connections: {self.limits.max_connections} open "
                                 "(GEMINI_PROXY_MAX_CONNECTIONS)")  # fmt: skip
            self._refuse(ServiceUnavailable(
                f"Too many connections to the proxy (at most {self.limits.max_connections}); try again later."
            ), log_it=False)  # fmt: skip
            return
        self._start_head_timer()
        self._writer = _HeadWithBody(transport, self.loop)

    def shutdown(self) -> None:
        self._flush()  # uvicorn closes the socket itself when the answer is complete
        super().shutdown()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        # uvicorn's own, but a refusal of ours (which stopped the parser) is no malformed request.
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if not self._refused:
                self.logger.warning("Invalid HTTP request received.")
                self._flush()
                self.send_400_response("Invalid HTTP request received.")
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        if self._refused or not self._reading_head:
            return
        self._head_bytes += len(data)
        if self._head_bytes > self.limits.max_header_bytes:
            self._refuse(HeadersTooLarge(
                f"The request's headers are over {self.limits.max_header_bytes} bytes (GEMINI_PROXY_MAX_HEADER_BYTES)."
            ))  # fmt: skip

    # Parser callbacks ------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_head = True
        self._head_bytes = 0
        if self._head_timer is None:
            self._start_head_timer()

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(self.headers) >= self.limits.max_headers:
            self._refuse(HeadersTooLarge(
                f"The request has over {self.limits.max_headers} headers (GEMINI_PROXY_MAX_HEADERS)."
            ))  # fmt: skip
            raise _Refused
        super().on_header(name, value)
        if self.headers[-1][0] == b"content-length":  # uvicorn's lower-cased name
            self._content_length = value

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._stop_head_timer()
        length = self._content_length
        if length is not None:
            self._content_length = None
            if len(length) > 19 or (length.isdigit() and int(length) > self.limits.max_body_bytes):
                # Refused before a byte of the body is read (or a 100 Continue sent).
                self._refuse(PayloadTooLarge(
                    f"The request body is larger than {self.limits.max_body_bytes} bytes "
                    "(GEMINI_PROXY_MAX_REQUEST_BYTES).", param="body",
                ))  # fmt: skip
                raise _Refused
        super().on_headers_complete()
        cycle, writer = self.cycle, self._writer
        if writer is not None and cycle is not None and cycle.transport is self.transport:  # a new cycle
            writer.expect_head()
            cycle.transport = writer  # type: ignore[assignment]

    def _flush(self) -> None:
        """Sends a held response head before a write that goes to the socket past the cycle."""
        if self._writer is not None:
            self._writer.flush()

    # Refusals --------------------------------------------------------------------------------

    def _start_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._reading_head and not self._refused:
            self._refuse(RequestTimeout(
                f"The request's headers did not arrive within {self.limits.header_timeout:g} s"
                " (GEMINI_PROXY_HEADER_TIMEOUT)."
            ))  # fmt: skip

    def _refuse(self, error: ProxyError, *, log_it: bool = True) -> None:
        """Answers ``error`` in the surface's format and closes the connection."""
        self._refused = True
        self._flush()
        self._stop_head_timer()
        if log_it:
            _warn(type(error).__name__, f"refused a request: {error.message}")
        headers = self.headers or []
        path = self.url.partition(b"?")[0].decode("latin-1") if getattr(self, "url", b"") else "/"
        try:
            method = self.parser.get_method().decode("ascii")
        except Exception:  # the request line was not read yet
            method = "GET"
        response = render_for({"path": path or "/", "headers": headers, "method": method})(error)
        status = response.status_code
        lines = [f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n".encode("ascii")]
        for name, value in response.raw_headers:
            lines.append(name + b": " + value + b"\r\n")
        lines.append(b"x-request-id: " + request_id_for(headers).encode("ascii") + b"\r\n")
        lines.append(b"connection: close\r\n\r\n")
        lines.append(bytes(response.body))
        self.transport.write(b"".join(lines))
        self.transport.close()

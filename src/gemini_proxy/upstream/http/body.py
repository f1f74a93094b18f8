"""An answer's body as it arrives: fed by whoever reads the wire, read or iterated by the caller.

``feed`` and ``end`` are the producer's side (a ``Connection`` parsing a socket, or the in-process
``ASGITransport``); ``read``, ``iter_chunks`` and ``close`` the consumer's. When the consumer lags
by more than ``PAUSE_ABOVE`` bytes, ``feed`` says so and the producer stops reading until the
stream calls its source's ``resume``. ``iter_chunks(idle=s)`` also yields an empty chunk each time
``s`` seconds pass without one (a surface's keep-alive pings): one timer per wait, no task.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator, Mapping
from typing import Protocol

from gemini_proxy.upstream.http.errors import HttpError

# A streamed body buffers up to this many bytes before reading from the source pauses.
PAUSE_ABOVE = 1 << 20


class BodySource(Protocol):
    """What feeds a body: told to go on once the consumer caught up, or to stop for good."""

    def resume(self) -> None: ...

    def abort(self) -> None: ...


def decoder_for(headers: Mapping[str, str]) -> zlib._Decompress | None:
    """A decoder for a gzip or deflate ``content-encoding``; None for an identity body."""
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(47)  # gzip or zlib header, detected
    if encoding == "deflate":
        return zlib.decompressobj(zlib.MAX_WBITS)
    return None


class BodyStream:
    """Body bytes handed over as they arrive, decoded when the answer was compressed."""

    __slots__ = ("_source", "_loop", "_chunks", "_buffered", "_paused", "_done", "_error", "_waiter", "_decoder")

    def __init__(
        self,
        source: BodySource | None,
        loop: asyncio.AbstractEventLoop,
        decoder: zlib._Decompress | None = None,
    ) -> None:
        self._source = source
        self._loop = loop
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._paused = False  # the source was told the consumer lags and stopped reading
        self._done = False
        self._error: HttpError | None = None
        self._waiter: asyncio.Future[bool] | None = None
        self._decoder = decoder

    # -- the producer's side -------------------------------------------------------------------

    def feed(self, data: bytes) -> bool:
        """Adds body bytes; True when the consumer lags and the source should stop reading (once
        it has, the stream calls ``source.resume()`` when the consumer has caught up)."""
        if self._done:
            return False
        self._chunks.append(data)
        self._buffered += len(data)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(True)
        if self._buffered > PAUSE_ABOVE and not self._paused:
            self._paused = True
            return True
        return False

    def end(self, error: HttpError | None = None) -> None:
        """The body is complete (``error`` None) or never will be; later calls change nothing."""
        if self._done:
            return
        self._done = True
        self._error = error
        self._source = None
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(True)

    @property
    def done(self) -> bool:
        return self._done

    @property
    def complete(self) -> bool:
        """Whether the body ended well and every byte of it was handed to the consumer."""
        return self._done and self._error is None and not self._chunks and self._decoder is None

    @property
    def paused(self) -> bool:
        """Whether the source was told to stop reading because the consumer lags."""
        return self._paused

    # -- the consumer's side -------------------------------------------------------------------

    async def read(self) -> bytes:
        """The whole body."""
        try:
            while not self._done:
                self._buffered = 0  # all of it is wanted: reading never pauses for read()
                if self._paused:
                    self._go_on()
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

    async def iter_chunks(self, idle: float | None = None) -> AsyncIterator[bytes]:
        """Body bytes as they arrive; with ``idle``, ``b""`` each time ``idle`` seconds pass without any."""
        try:
            while True:
                if self._chunks:
                    chunks, self._chunks, self._buffered = self._chunks, [], 0
                    if self._paused:
                        self._go_on()
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
                elif not await self._wait(idle):
                    yield b""
        finally:
            self.close()  # a no-op at the end; else (cancelled, abandoned, corrupt) the rest is given up

    def close(self) -> None:
        """Gives up on the rest of the body: its source is aborted (a connection cannot be reused)."""
        if not self._done:
            source = self._source
            self.end(HttpError("the answer was closed before its end"))  # wakes a reader waiting elsewhere
            if source is not None:
                source.abort()

    def _go_on(self) -> None:
        self._paused = False
        if self._source is not None:
            self._source.resume()

    async def _wait(self, idle: float | None = None) -> bool:
        """Until the producer feeds or ends the body (True), or ``idle`` seconds pass first (False)."""
        waiter: asyncio.Future[bool] = self._loop.create_future()
        self._waiter = waiter
        timer = None if idle is None else self._loop.call_later(idle, _expire, waiter)
        try:
            return await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    def _decode(self, data: bytes, *, final: bool) -> bytes:
        assert self._decoder is not None
        try:
            out = self._decoder.decompress(data)
            return out + self._decoder.flush() if final else out
        except zlib.error as exc:
            raise HttpError(f"the answer's compressed body is corrupt ({exc})") from None


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)

"""The body stream on its own: what a producer feeds is what the consumer reads, with back-pressure."""

from __future__ import annotations

import asyncio
import gzip
from typing import Any

import pytest

from gemini_proxy.upstream.http import PAUSE_ABOVE, BodyStream, HttpError
from gemini_proxy.upstream.http.body import decoder_for


class Source:
    """Records what the stream asks of its producer."""

    def __init__(self) -> None:
        self.resumed = 0
        self.aborted = 0

    def resume(self) -> None:
        self.resumed += 1

    def abort(self) -> None:
        self.aborted += 1


async def test_fed_bytes_are_read_whole_after_the_end() -> None:
    body = BodyStream(Source(), asyncio.get_running_loop())
    reader = asyncio.ensure_future(body.read())
    body.feed(b"hel")
    await asyncio.sleep(0)
    assert not reader.done()  # not before the end
    body.feed(b"lo")
    body.end()
    assert await reader == b"hello"
    assert body.done


async def test_chunks_come_out_as_they_are_fed() -> None:
    body = BodyStream(Source(), asyncio.get_running_loop())
    chunks = body.iter_chunks()
    body.feed(b"one")
    assert await anext(chunks) == b"one"
    body.feed(b"two")
    body.feed(b"three")
    assert await anext(chunks) == b"twothree"  # what waited is handed over at once
    body.end()
    with pytest.raises(StopAsyncIteration):
        await anext(chunks)


async def test_an_end_with_an_error_is_raised_to_the_reader_and_nothing_is_fed_after() -> None:
    body = BodyStream(Source(), asyncio.get_running_loop())
    body.feed(b"partial")
    body.end(HttpError("cut"))
    body.end()  # a second end changes nothing
    assert body.feed(b"late") is False
    with pytest.raises(HttpError, match="cut"):
        await body.read()


async def test_closing_before_the_end_aborts_the_source_and_wakes_a_waiting_reader() -> None:
    source = Source()
    body = BodyStream(source, asyncio.get_running_loop())
    reader = asyncio.ensure_future(body.read())
    await asyncio.sleep(0)
    body.close()
    with pytest.raises(HttpError, match="closed before its end"):
        await reader
    assert source.aborted == 1
    body.close()
    assert source.aborted == 1  # once


async def test_closing_after_the_end_leaves_the_source_alone() -> None:
    source = Source()
    body = BodyStream(source, asyncio.get_running_loop())
    body.feed(b"x")
    body.end()
    assert [chunk async for chunk in body.iter_chunks()] == [b"x"]
    body.close()
    assert source.aborted == 0


async def test_a_lagging_consumer_pauses_the_source_until_it_catches_up() -> None:
    source = Source()
    body = BodyStream(source, asyncio.get_running_loop())
    half = b"x" * (PAUSE_ABOVE // 2 + 1)
    assert body.feed(half) is False
    assert body.feed(half) is True  # past PAUSE_ABOVE unread: stop reading
    assert body.paused
    assert body.feed(half) is False  # told once
    chunks = body.iter_chunks()
    assert len(await anext(chunks)) == 3 * len(half)
    assert (source.resumed, body.paused) == (1, False)  # taken: go on
    body.end()
    assert [chunk async for chunk in chunks] == []


async def test_an_abandoned_iteration_gives_the_rest_up() -> None:
    source = Source()
    body = BodyStream(source, asyncio.get_running_loop())
    body.feed(b"a")
    chunks = body.iter_chunks()
    assert await anext(chunks) == b"a"
    await chunks.aclose()
    assert source.aborted == 1 and body.done


async def test_a_gzip_body_is_decoded_and_a_corrupt_one_is_an_http_error() -> None:
    loop = asyncio.get_running_loop()
    packed = gzip.compress(b"hello " * 1000)
    body = BodyStream(Source(), loop, decoder_for({"content-encoding": "gzip"}))
    for i in range(0, len(packed), 7):
        body.feed(packed[i : i + 7])
    body.end()
    assert await body.read() == b"hello " * 1000
    broken = BodyStream(Source(), loop, decoder_for({"content-encoding": "deflate"}))
    broken.feed(b"not deflate at all")
    broken.end()
    with pytest.raises(HttpError, match="compressed body is corrupt"):
        await broken.read()
    assert decoder_for({}) is None and decoder_for({"content-encoding": "identity"}) is None


async def test_with_idle_a_silent_body_yields_an_empty_chunk_each_interval_and_goes_on() -> None:
    body = BodyStream(Source(), asyncio.get_running_loop())
    chunks = body.iter_chunks(idle=0.01)
    assert await anext(chunks) == b""
    assert await anext(chunks) == b""  # again after another silent interval
    body.feed(b"late words")
    assert await anext(chunks) == b"late words"
    body.end()
    with pytest.raises(StopAsyncIteration):
        await anext(chunks)


class TimedLoop:
    """The running loop, with every ``call_later`` handle kept to look at."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.timers: list[asyncio.TimerHandle] = []

    def create_future(self) -> asyncio.Future[bool]:
        return self._loop.create_future()

    def call_later(self, delay: float, callback: Any, *args: Any) -> asyncio.TimerHandle:
        handle = self._loop.call_later(delay, callback, *args)
        self.timers.append(handle)
        return handle


async def test_with_idle_each_wait_s_timer_is_cancelled_when_it_ends() -> None:
    loop = TimedLoop(asyncio.get_running_loop())
    body = BodyStream(Source(), loop)  # type: ignore[arg-type]
    chunks = body.iter_chunks(idle=30)
    asyncio.get_running_loop().call_soon(body.feed, b"one")
    assert await anext(chunks) == b"one"
    waiting = asyncio.ensure_future(anext(chunks))
    await asyncio.sleep(0)
    waiting.cancel()  # the reader cancelled in the middle of a wait
    with pytest.raises(asyncio.CancelledError):
        await waiting
    closed = BodyStream(Source(), loop)  # type: ignore[arg-type]
    reader = asyncio.ensure_future(anext(closed.iter_chunks(idle=30)))
    await asyncio.sleep(0)
    closed.close()  # given up while a reader waits: it is told, its timer goes
    with pytest.raises(HttpError):
        await reader
    assert len(loop.timers) == 3 and all(timer.cancelled() for timer in loop.timers)


async def test_with_idle_bytes_that_come_in_time_are_not_preceded_by_a_tick() -> None:
    loop = asyncio.get_running_loop()
    body = BodyStream(Source(), loop)
    chunks = body.iter_chunks(idle=0.05)
    loop.call_soon(body.feed, b"prompt")
    assert await anext(chunks) == b"prompt"
    await asyncio.sleep(0.1)  # past the interval of the wait that ended: its timer is gone
    body.feed(b"more")
    body.end()
    assert [chunk async for chunk in chunks] == [b"more"]

"""api/disconnect.py's body timer: a body that stops arriving is a 408, and only the timer's own
cancellation becomes one (a cancellation from outside, a shutdown say, stays a cancellation)."""

from __future__ import annotations

import asyncio

import pytest
from starlette.types import Message

from gemini_proxy.api.disconnect import DisconnectWatch
from gemini_proxy.errors import RequestTimeout


async def stalled() -> Message:
    await asyncio.Event().wait()  # a body that never arrives
    raise AssertionError("unreachable")


async def test_a_body_that_stops_arriving_raises_request_timeout_and_leaves_no_cancellation() -> None:
    async def endpoint() -> int:
        watch = DisconnectWatch(asyncio.get_running_loop(), stalled, 1 << 20, body_timeout=0.02)
        with pytest.raises(RequestTimeout) as info:
            await watch.receive()
        assert info.value.param == "body"
        task = asyncio.current_task()
        assert task is not None
        await asyncio.sleep(0)  # no cancellation is left pending on the task
        return task.cancelling()

    assert await asyncio.wait_for(endpoint(), 5) == 0


async def test_a_cancellation_from_outside_stays_a_cancellation() -> None:
    async def endpoint() -> None:
        watch = DisconnectWatch(asyncio.get_running_loop(), stalled, 1 << 20, body_timeout=60.0)
        await watch.receive()

    task = asyncio.create_task(endpoint())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_body_in_time_is_handed_over_and_the_timer_is_gone() -> None:
    async def receive() -> Message:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    watch = DisconnectWatch(asyncio.get_running_loop(), receive, 1 << 20, body_timeout=0.01)
    assert (await watch.receive())["body"] == b"{}"
    await asyncio.sleep(0.03)  # past the body timeout: nothing fires
    watch.stop()

"""The streaming response closes its upstream however the stream ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gemini_proxy.api.streaming import StreamResponse


async def body(started: list[bool]) -> AsyncIterator[bytes]:
    started.append(True)
    yield b"data: 1\n\n"


async def receive() -> dict:
    return {"type": "http.disconnect"}


@pytest.mark.parametrize("fail_on", ["http.response.start", "http.response.body"])
async def test_upstream_closed_when_the_client_leaves(fail_on: str) -> None:
    closed: list[bool] = []
    started: list[bool] = []

    async def send(message: dict) -> None:
        if message["type"] == fail_on:
            raise asyncio.CancelledError

    response = StreamResponse(body(started), media_type="text/event-stream", on_close=lambda: closed.append(True))
    with pytest.raises(asyncio.CancelledError):
        await response({"type": "http"}, receive, send)
    assert closed == [True]
    assert started == ([] if fail_on == "http.response.start" else [True])


async def test_upstream_closed_after_a_complete_stream() -> None:
    closed: list[bool] = []
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    response = StreamResponse(body([]), media_type="text/event-stream", on_close=lambda: closed.append(True))
    await response({"type": "http"}, receive, send)
    assert [m.get("body") for m in sent[1:]] == [b"data: 1\n\n", b""]
    assert sent[-1]["more_body"] is False and closed == [True]

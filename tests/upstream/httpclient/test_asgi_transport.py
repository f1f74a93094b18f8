"""The transport seam: ``ASGITransport`` serves ``GeminiClient``'s requests from an ASGI app in process,
with what a socket would show: streamed bodies chunk by chunk, cuts as errors, back-pressure, disconnects."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from gemini_proxy.errors import UpstreamUnavailable
from gemini_proxy.simulator import SimulatorConfig
from gemini_proxy.simulator.app import create_app
from gemini_proxy.upstream.client import GeminiClient
from gemini_proxy.upstream.http import PAUSE_ABOVE, ASGITransport, HttpError
from gemini_proxy.upstream.keys import ApiKey

KEY = ApiKey("sim-key-1")
BODY = orjson.dumps({"contents": [{"role": "user", "parts": [{"text": "one two three four five six"}]}]})


def simulator(**options: Any) -> tuple[SimulatorConfig, ASGITransport]:
    config = SimulatorConfig(keys={"sim-key-1": None}, **options)
    return config, ASGITransport(create_app(config))


async def test_a_gemini_call_through_the_simulator_app() -> None:
    config, transport = simulator()
    client = GeminiClient(transport)
    response = await client.send(KEY, "POST", "/v1beta/models/gemini-2.5-flash:generateContent", body=BODY)
    assert response.status == 200 and response.headers["content-type"].startswith("application/json")
    answer = orjson.loads(await response.read())
    assert answer["candidates"][0]["content"]["parts"][0]["text"].startswith("Simulated reply")
    assert config.stats()["by_key"] == {"sim-key-1": 1}  # the key went in its header
    wrong = await client.send(ApiKey("not-a-key"), "GET", "/v1beta/models", query={"pageSize": "1"})
    assert wrong.status == 400 and b"API_KEY_INVALID" in await wrong.read()
    await transport.close()


async def test_a_stream_arrives_chunk_by_chunk_while_the_app_is_still_sending() -> None:
    _, transport = simulator(stream_chunks=3, chunk_delay=0.3)
    client = GeminiClient(transport)
    loop = asyncio.get_running_loop()
    began = loop.time()
    response = await client.send(
        KEY, "POST", "/v1beta/models/gemini-2.5-flash:streamGenerateContent", body=BODY, query={"alt": "sse"}
    )
    arrivals = [loop.time() - began async for chunk in response.iter_chunks() if b"data:" in chunk]
    assert len(arrivals) == 3
    assert arrivals[0] < 0.25 < 0.5 < arrivals[-1]  # the first long before the last: not buffered to the end


async def test_an_answer_cut_mid_body_is_a_connection_failure() -> None:
    config, transport = simulator(stream_chunks=3)
    config.fail_next(200, after_chunks=1)
    response = await GeminiClient(transport).send(
        KEY, "POST", "/v1beta/models/gemini-2.5-flash:streamGenerateContent", body=BODY, query={"alt": "sse"}
    )
    with pytest.raises(UpstreamUnavailable, match="closed before the answer ended"):
        [chunk async for chunk in response.iter_chunks()]


async def test_an_app_that_fails_before_answering_is_a_connection_failure() -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    with pytest.raises(HttpError, match="closed before the answer ended"):
        await ASGITransport(broken).request("GET", "/x", [])


async def test_the_request_reaches_the_app_as_sent() -> None:
    seen: dict[str, Any] = {}

    async def echo(scope: Any, receive: Any, send: Any) -> None:
        seen.update(scope)
        seen["body"] = (await receive())["body"]
        await send({"type": "http.response.start", "status": 201, "headers": [(b"X-Thing", b"a"), (b"x-thing", b"b")]})
        await send({"type": "http.response.body", "body": b"done"})

    response = await ASGITransport(echo).request("POST", "/v1beta/a%20b:go?x=1&y=2", [("X-Goog-Api-Key", "k")], b"{}")
    assert (response.status, response.headers["x-thing"], await response.read()) == (201, "a, b", b"done")
    assert (seen["method"], seen["path"], seen["raw_path"], seen["query_string"]) == (
        "POST", "/v1beta/a b:go", b"/v1beta/a%20b:go", b"x=1&y=2"
    )
    assert (b"x-goog-api-key", b"k") in seen["headers"] and (b"content-length", b"2") in seen["headers"]
    assert seen["body"] == b"{}"


async def test_a_lagging_reader_holds_the_app_back_and_closing_early_is_a_disconnect() -> None:
    sent = 0
    disconnected = asyncio.Event()
    piece = b"x" * 65536

    async def firehose(scope: Any, receive: Any, send: Any) -> None:
        nonlocal sent
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(100):  # 6.4 MB
            await send({"type": "http.response.body", "body": piece, "more_body": True})
            sent += len(piece)
        await send({"type": "http.response.body", "body": b""})

    async def watcher(scope: Any, receive: Any, send: Any) -> None:
        task = asyncio.ensure_future(firehose(scope, receive, send))
        try:
            while (await receive())["type"] != "http.disconnect":
                pass
            disconnected.set()
        finally:
            await task

    response = await ASGITransport(watcher).request("GET", "/big", [])
    await asyncio.sleep(0.05)
    assert PAUSE_ABOVE <= sent <= PAUSE_ABOVE + 2 * len(piece)  # it waits for the reader, as over a full socket
    chunks = response.iter_chunks()
    await anext(chunks)
    await asyncio.sleep(0.05)
    assert sent <= 2 * PAUSE_ABOVE + 4 * len(piece)
    await chunks.aclose()  # the reader gives up
    await asyncio.wait_for(disconnected.wait(), 1)

"""The reference point of the budget: a bare raw-ASGI passthrough, measured beside the proxy.

The issue that set the budget gives, for scale, "a bare 60-line raw-ASGI passthrough spends
0.2-0.4 ms" of CPU per request. This is one: the body read whole, one aiohttp call upstream with
a fixed key, the answer (or each streamed chunk) sent back; no routing, no validation, no key
pool, no metrics. It runs under uvicorn with the proxy's options, so that its figures say how
fast this machine is in this run: the floor that any real proxy sits above.

    UPSTREAM=http://127.0.0.1:PORT KEY=bench-key-1 python -m uvicorn --app-dir bench reference:app
"""

from __future__ import annotations

import os
from typing import Any

import aiohttp

UPSTREAM = os.environ.get("UPSTREAM", "http://127.0.0.1:8080")
HEADERS = {"content-type": "application/json", "x-goog-api-key": os.environ.get("KEY", "bench-key-1")}
session: aiohttp.ClientSession | None = None


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    global session
    if scope["type"] == "lifespan":
        while (await receive())["type"] == "lifespan.startup":
            session = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
            await send({"type": "lifespan.startup.complete"})
        if session is not None:
            await session.close()
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["path"] == "/health":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    query = scope["query_string"].decode()
    url = UPSTREAM + scope["path"] + (f"?{query}" if query else "")
    assert session is not None
    async with session.post(url, data=body, headers=HEADERS) as answer:
        headers = [(b"content-type", answer.headers.get("content-type", "application/json").encode())]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        async for chunk in answer.content.iter_any():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

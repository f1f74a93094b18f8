"""The last resort of the ASGI app: an exception no endpoint caught is a logged 500 in the
surface's own shape, never a stack trace. (No real request can raise one, if none is known; the
failing endpoints here stand in for the bug that would.)"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from gemini_proxy.api.asgi import ProxyApp
from gemini_proxy.api.common import render_google, render_openai, surface
from gemini_proxy.clients import ClientRegistry
from gemini_proxy.observability import Metrics


async def boom(request: Request) -> Response:
    raise RuntimeError("secret detail that must not reach the client")


class Broken:
    """A raw ASGI route (not a SurfaceEndpoint) that fails: only the app's own guard catches it."""

    async def __call__(self, scope: object, receive: object, send: object) -> None:
        raise RuntimeError("secret detail that must not reach the client")


async def failing_stream(request: Request) -> Response:
    """An answer that fails while it is sent, after its endpoint has counted it."""

    async def body() -> AsyncIterator[bytes]:
        raise RuntimeError("secret detail that must not reach the client")
        yield b""

    return StreamingResponse(body())


def make_app() -> ProxyApp:
    @contextlib.asynccontextmanager
    async def lifespan(app: ProxyApp) -> AsyncIterator[None]:
        yield

    app = ProxyApp(
        [
            Route("/v1/chat/completions", surface(render_openai, None)(boom), methods=["POST"]),
            Route("/v1beta/models/{target:path}", surface(render_google, None)(boom), methods=["POST"]),
            Route("/v1/raw", Broken(), methods=["GET"]),
            Route("/v1/counted", surface(render_openai, "openai")(failing_stream), methods=["GET"]),
        ],
        lifespan=lifespan,
        clients=ClientRegistry(),
    )
    import asyncio

    settings = SimpleNamespace(max_request_bytes=1 << 20, body_timeout=60.0)
    app.services = SimpleNamespace(loop=asyncio.get_running_loop(), metrics=Metrics(), settings=settings)  # type: ignore[assignment]
    return app


@pytest.mark.parametrize(
    ("method", "path", "shape"),
    [
        ("POST", "/v1/chat/completions", "openai"),
        ("POST", "/v1beta/models/x:generateContent", "google"),
        ("GET", "/v1/raw", "openai"),
    ],
)
async def test_unhandled_exception_is_a_500_in_the_surface_shape(
    method: str, path: str, shape: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app()
    with caplog.at_level(logging.ERROR, logger="gemini_proxy"):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://proxy") as client:
            response = await client.request(method, path, content=b"{}")
    assert response.status_code == 500
    assert "secret detail" not in response.text and "Traceback" not in response.text
    error = response.json()["error"]
    if shape == "openai":
        assert error["type"] == "api_error" and error["message"] == "Internal error in gemini-proxy."
    else:
        assert error["code"] == 500 and error["status"] == "INTERNAL"
    assert "unhandled error" in caplog.text and "secret detail" in caplog.text  # the log has the cause


async def test_the_last_resort_500_is_counted_in_the_metrics() -> None:
    app = make_app()
    metrics: Metrics = app.services.metrics  # type: ignore[union-attr]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://proxy") as client:
        assert (await client.get("/v1/raw")).status_code == 500
    assert metrics.requests == {("openai", "", "500"): 1}


async def test_an_answer_failing_after_its_endpoint_counted_it_is_counted_once() -> None:
    app = make_app()
    metrics: Metrics = app.services.metrics  # type: ignore[union-attr]
    sent: list[dict[str, Any]] = []

    requests = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict[str, Any]:
        if requests:
            return requests.pop()
        await asyncio.Event().wait()  # the client stays
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/v1/counted", "raw_path": b"/v1/counted",
             "query_string": b"", "headers": [], "scheme": "http", "server": ("proxy", 80), "root_path": ""}
    await app(scope, receive, send)  # type: ignore[arg-type]
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 200
    assert metrics.requests == {("openai", "", "200"): 1}  # counted by its endpoint, not again as a 500

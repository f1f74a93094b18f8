"""``IndexedRouter``: fixed paths by a table, everything else by Starlette's scan, same answers."""

from __future__ import annotations

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from gemini_proxy.api.routing import IndexedRouter


def answer(text: str):  # type: ignore[no-untyped-def]
    async def endpoint(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"{text} {dict(request.path_params)}")

    return endpoint


ROUTES = [
    Route("/items/{name}", answer("param"), methods=["GET"]),
    Route("/items/fixed", answer("fixed-get"), methods=["GET"]),  # shadowed by the route above
    Route("/items/fixed", answer("fixed-post"), methods=["POST"]),
    Route("/v1/messages", answer("messages"), methods=["POST"]),
]


@pytest.mark.parametrize(
    ("method", "path", "status", "text"),
    [
        ("POST", "/v1/messages", 200, "messages {}"),
        ("GET", "/v1/messages", 405, "Method Not Allowed"),
        ("GET", "/items/fixed", 200, "param {'name': 'fixed'}"),  # the order still decides
        ("POST", "/items/fixed", 200, "fixed-post {}"),
        ("GET", "/items/other", 200, "param {'name': 'other'}"),
        ("POST", "/nowhere", 404, "Not Found"),
    ],
)
async def test_answers_as_starlette_s_router_would(method: str, path: str, status: int, text: str) -> None:
    transport = httpx.ASGITransport(app=IndexedRouter(ROUTES))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        got = await client.request(method, path)
    assert (got.status_code, got.text) == (status, text)

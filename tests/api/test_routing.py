"""``IndexedRouter``: fixed paths by a table, paths with parameters by a scan of the routes their first
segment allows; the same answers as Starlette's router."""

from __future__ import annotations

import re

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Match, Mount, Route, Router

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
    got = await request(IndexedRouter(ROUTES), method, path)
    assert (got.status_code, got.text) == (status, text)


async def request(router: Router, method: str, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=router)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(method, path, follow_redirects=False)


async def _plain(scope, receive, send):  # type: ignore[no-untyped-def]
    await PlainTextResponse(f"mounted {scope['path']}")(scope, receive, send)


# Paths with parameters go through a scan of the routes that may match their first segment only.
SCANNED = [
    Route("/", answer("root"), methods=["GET"]),
    Route("/v1/messages", answer("messages"), methods=["POST"]),
    Route("/v1beta/models", answer("list"), methods=["GET"]),
    Route("/{tenant}/status", answer("tenant-status"), methods=["GET"]),  # any first segment
    Route("/v1beta/models/{target:path}", answer("native"), methods=["POST"]),
    Route("/v1beta/models/{target}", answer("model"), methods=["GET"]),
    Route("/files{rest:path}", answer("files"), methods=["GET"]),  # a parameter in the first segment
    Mount("/static", app=_plain),
    Route("/api/jobs/{job_id}", answer("job"), methods=["GET", "DELETE"]),
    Route("/api/jobs/{job_id}/", answer("job-slash"), methods=["PATCH"]),
]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1beta/models/gemini-2.5-flash:generateContent"),
        ("POST", "/v1beta/models/a/b:c"),
        ("GET", "/v1beta/models/gemini-2.5-flash"),
        ("DELETE", "/v1beta/models/gemini-2.5-flash"),  # 405: the routes of its segment take GET, POST
        ("GET", "/v1beta/status"),  # the any-segment route, before the native ones
        ("GET", "/api/status"),
        ("GET", "/elsewhere/status"),
        ("GET", "/api/jobs/j1"),
        ("PATCH", "/api/jobs/j1"),  # redirected to the slashed route, as Starlette does
        ("GET", "/api/jobs/j1/"),  # redirected to the route without the slash
        ("GET", "/filesystem/x"),
        ("GET", "/static/app.js"),
        ("GET", "/"),
        ("POST", "/nowhere/at/all"),
        ("GET", "/v1/messages/x"),
        ("GET", "//x"),
        ("GET", "//"),
        ("GET", "/v1beta/"),
    ],
)
async def test_paths_with_parameters_answer_as_starlette_s_router_would(method: str, path: str) -> None:
    answers = []
    for router in (Router(SCANNED), IndexedRouter(SCANNED)):
        got = await request(router, method, path)
        answers.append((got.status_code, got.headers.get("location"), got.text))
    assert answers[1] == answers[0]
    assert answers[0][0] != 500


async def _status_and_body(router: Router, scope: dict[str, object]) -> tuple[int, bytes]:
    sent = []

    async def receive():  # type: ignore[no-untyped-def]
        return {"type": "http.request", "body": b""}

    async def send(message):  # type: ignore[no-untyped-def]
        sent.append(message)

    await router(scope, receive, send)
    return sent[0]["status"], sent[1]["body"]


async def test_a_request_target_of_star_is_answered_as_starlette_s_router_would() -> None:
    scope = {"type": "http", "method": "OPTIONS", "path": "*", "root_path": "", "headers": [], "query_string": b""}
    answers = [await _status_and_body(router, dict(scope)) for router in (Router(SCANNED), IndexedRouter(SCANNED))]
    assert answers[1] == answers[0] == (404, b"Not Found")


def test_every_route_of_the_proxy_is_among_those_scanned_for_the_paths_it_matches() -> None:
    """Over the proxy's own routes: any route that matches a path (fully, or all but the method)
    is in the narrowed list for that path's first segment, so the scan finds what Starlette's would."""
    from gemini_proxy.api.routing import _matching
    from gemini_proxy.app import create_app
    from gemini_proxy.config import Settings

    app = create_app(Settings(_env_file=None, keys="fake-key-1", db="", upstream_url="http://127.0.0.1:9"))  # type: ignore[call-arg]
    routes = app.router.routes
    paths = {"/", "*", "//x", "/v1beta/", "/nowhere/at/all"}
    for route in routes:
        template = getattr(route, "path", "")
        for value in ("x1", "a/b:c"):
            paths.add(re.sub(r"\{[^}]+\}", value, template))
    checked = 0
    for path in sorted(paths):
        narrowed = _matching(routes, path[1:].partition("/")[0])
        for route in routes:
            for method in ("GET", "POST", "DELETE", "PATCH"):
                scope = {"type": "http", "path": path, "method": method, "root_path": ""}
                if route.matches(scope)[0] is not Match.NONE:
                    assert route in narrowed, (path, method, getattr(route, "path", route))
                    checked += 1
    assert checked > 100

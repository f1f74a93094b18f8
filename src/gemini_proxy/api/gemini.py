"""The native Gemini surface: ``/v1beta/...`` (and ``/v1/...``) passed through the key pool.

Bodies go to Google byte for byte and answers come back as Google sent them, streams chunk by
chunk. The client's ``key`` / ``x-goog-api-key`` is its credential to the proxy and is never
forwarded; a pool key is used upstream. Only pool decisions (all keys spent) are the proxy's own
answers, in Google's error shape.
"""

from __future__ import annotations

import base64
import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gemini_proxy.api.common import check_model_id, render_google, services, surface
from gemini_proxy.api.streaming import StreamResponse
from gemini_proxy.errors import InvalidRequest, NotFound, UpstreamUnavailable

# Query parameters that mean something to Google and nothing secret.
_FORWARDED_QUERY = ("alt", "pageSize", "pageToken", "filter", "updateMask", "$alt")
_METHOD = re.compile(r"^[A-Za-z]+$")
# Pseudo-models for the pool: listing models and managing caches spend no generation quota.
MODELS_LISTING = "models:list"
CACHES = "cachedContents"


def _version(request: Request) -> str:
    """``v1beta`` or ``v1``: the proxy forwards to the API version the client called."""
    return "v1" if request.scope["path"].startswith("/v1/") else "v1beta"


def _query(request: Request) -> dict[str, str] | None:
    if not request.scope["query_string"]:
        return None
    params = request.query_params
    return {name: params[name] for name in _FORWARDED_QUERY if name in params}


def _passthrough(status: int, headers: Any, raw: bytes) -> Response:
    return Response(raw, status_code=status, media_type=headers.get("content-type", "application/json"))


@surface(render_google, "gemini")
async def model_call(request: Request) -> Response:
    """``POST /v1beta/models/{model}:{method}``: generate, stream, count, embed, and any other method."""
    svc = services(request)
    version, target = _version(request), request.path_params["target"]
    model, sep, method = target.partition(":")
    if not sep or not _METHOD.match(method):
        raise NotFound(f"Unknown method for {request.url.path}; expected /{version}/models/{{model}}:{{method}}.")
    check_model_id(model, param="model")
    request.state.model = model
    body = await request.body()
    prefer = await _cache_owner(svc, body)
    path = f"/{version}/models/{model}:{method}"
    if method == "streamGenerateContent":
        upstream = await svc.gateway.open_stream(model, path, body=body, query=_query(request), prefer=prefer)

        async def relay() -> AsyncIterator[bytes]:
            async with contextlib.aclosing(upstream.chunks()) as chunks:
                with contextlib.suppress(UpstreamUnavailable):  # a cut upstream cuts the client's stream too
                    async for data in chunks:
                        yield data

        return StreamResponse(  # type: ignore[return-value]
            relay(),
            media_type=upstream.headers.get("content-type", "text/event-stream"),
            on_close=upstream.close,
        )
    answer = await svc.gateway.call(model, "POST", path, body=body, query=_query(request), prefer=prefer)
    return _passthrough(answer.status, answer.headers, answer.raw)


@surface(render_google, "gemini")
async def list_models(request: Request) -> Response:
    svc = services(request)
    version = _version(request)
    answer = await svc.gateway.call(MODELS_LISTING, "GET", f"/{version}/models", query=_query(request))
    return _passthrough(answer.status, answer.headers, answer.raw)


@surface(render_google, "gemini")
async def get_model(request: Request) -> Response:
    svc = services(request)
    version, model = _version(request), request.path_params["target"]
    check_model_id(model, param="name")
    answer = await svc.gateway.call(MODELS_LISTING, "GET", f"/{version}/models/{model}", query=_query(request))
    return _passthrough(answer.status, answer.headers, answer.raw)


@surface(render_google, "gemini")
async def caches(request: Request) -> Response:
    """``cachedContents`` create and list; the creating key is remembered for affinity."""
    svc = services(request)
    version = _version(request)
    path = f"/{version}/cachedContents"
    if request.method == "GET":
        return await _list_caches(svc, path, _query(request) or {})
    body = await request.body()
    answer = await svc.gateway.call(CACHES, "POST", path, body=body, query=_query(request))
    name = _json_field(answer.raw, "name")
    if isinstance(name, str):
        await svc.pool.caches.remember([name], answer.key_id)
    return _passthrough(answer.status, answer.headers, answer.raw)


@surface(render_google, "gemini")
async def cache_item(request: Request) -> Response:
    """``cachedContents/{id}`` get, patch and delete, sent with the key that created the cache."""
    svc = services(request)
    version, cache_id = _version(request), request.path_params["cache_id"]
    if not re.match(r"^[A-Za-z0-9_\-]+$", cache_id):
        raise InvalidRequest(f"Invalid cache name cachedContents/{cache_id}.", param="name")
    name = f"cachedContents/{cache_id}"
    body = await request.body() if request.method == "PATCH" else None
    answer = await svc.gateway.call(
        CACHES,
        request.method,
        f"/{version}/{name}",
        body=body,
        query=_query(request),
        prefer=await svc.pool.caches.owner(name),
    )
    return _passthrough(answer.status, answer.headers, answer.raw)


async def _list_caches(svc: Any, path: str, query: dict[str, str]) -> Response:
    """Caches belong to a project, and the pool's keys may span many: the list goes through one
    key of each project in turn, as one sequence of pages. A page ends where a project's page
    has more to come or ``pageSize`` is reached (Google may return fewer than asked); the page
    token says where the next one starts: ``(project, Google's own page token)``, so that it holds
    when the key that served the last page is disabled in between."""
    projects = svc.pool.project_keys()
    start, token = _decode_cache_page(query.get("pageToken"), [project for project, _ in projects])
    limit = _page_size(query.get("pageSize"))
    items: list[Any] = []
    for index in range(start, len(projects)):
        if limit is not None and len(items) >= limit:
            return _cache_page(items, _encode_cache_page(projects[index][0], None))
        ask = {"pageSize": str(limit - len(items))} if limit is not None else {}
        if token:
            ask["pageToken"] = token
        answer = await svc.gateway.call(CACHES, "GET", path, query=ask, prefer=projects[index][1])
        if answer.status != 200:
            return _passthrough(answer.status, answer.headers, answer.raw)
        page = _json_object(answer.raw)
        found = [item for item in page.get("cachedContents") or [] if isinstance(item, dict)]
        items += found
        await svc.pool.caches.remember([c["name"] for c in found if isinstance(c.get("name"), str)], answer.key_id)
        token = page.get("nextPageToken") or None
        if isinstance(token, str):
            return _cache_page(items, _encode_cache_page(projects[index][0], token))
    return _cache_page(items, None)


def _page_size(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        size = int(value)
    except ValueError:
        raise InvalidRequest(f"Invalid pageSize {value!r}: expected a whole number.", param="pageSize") from None
    return size if size > 0 else None  # Google: zero or less means the default


def _cache_page(items: list[Any], next_token: str | None) -> Response:
    body: dict[str, Any] = {}
    if items:
        body["cachedContents"] = items
    if next_token:
        body["nextPageToken"] = next_token
    return Response(orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n", media_type="application/json")


def _encode_cache_page(project: str, token: str | None) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([project, token])).decode().rstrip("=")


def _decode_cache_page(value: str | None, projects: list[str]) -> tuple[int, str | None]:
    if not value:
        return 0, None
    try:
        project, token = orjson.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        if not isinstance(token, str | None):
            raise ValueError(token)
        return projects.index(project), token
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise InvalidRequest(
            "Invalid pageToken: use the nextPageToken of the previous page, from this proxy and its current keys.",
            param="pageToken",
        ) from None


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


async def _cache_owner(svc: Any, body: bytes) -> str | None:
    if b"cachedContent" not in body:
        return None
    name = _json_field(body, "cachedContent")
    return await svc.pool.caches.owner(name) if isinstance(name, str) else None


def _json_field(raw: bytes, name: str) -> Any:
    return _json_object(raw).get(name)


routes = [
    # POST /v1/models/{model}:{method} shares its path with OpenAI's model resource: api/openai.py.
    Route("/v1beta/models/{target:path}", model_call, methods=["POST"]),
] + [
    route
    for version in ("v1beta", "v1")
    for route in (
        Route(f"/{version}/cachedContents", caches, methods=["GET", "POST"]),
        Route(f"/{version}/cachedContents/{{cache_id}}", cache_item, methods=["GET", "PATCH", "DELETE"]),
    )
] + [
    # GET /v1/models is the OpenAI list; Gemini clients of the v1 API are told apart in api/openai.py.
    Route("/v1beta/models", list_models, methods=["GET"]),
    Route("/v1beta/models/{target}", get_model, methods=["GET"]),
]

"""The native Gemini surface: ``/v1beta/...`` (and ``/v1/...``) passed through the key pool.

Bodies go to Google byte for byte and answers come back as Google sent them, streams chunk by
chunk. The client's ``key`` / ``x-goog-api-key`` is its credential to the proxy and is never
forwarded; a pool key is used upstream. Only pool decisions (all keys spent) are the proxy's own
answers, in Google's error shape.
"""

from __future__ import annotations

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
        raise NotFound(f"Unknown method for models/{target}; expected models/{{model}}:{{method}}.")
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
        answer = await svc.gateway.call(CACHES, "GET", path, query=_query(request))
        return _passthrough(answer.status, answer.headers, answer.raw)
    body = await request.body()
    answer = await svc.gateway.call(CACHES, "POST", path, body=body, query=_query(request))
    name = _json_field(answer.raw, "name")
    if isinstance(name, str):
        await svc.pool.remember_cache(name, answer.key_id)
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
        prefer=await svc.pool.cache_owner(name),
    )
    return _passthrough(answer.status, answer.headers, answer.raw)


async def _cache_owner(svc: Any, body: bytes) -> str | None:
    if b"cachedContent" not in body:
        return None
    name = _json_field(body, "cachedContent")
    return await svc.pool.cache_owner(name) if isinstance(name, str) else None


def _json_field(raw: bytes, name: str) -> Any:
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return parsed.get(name) if isinstance(parsed, dict) else None


routes = [
    route
    for version in ("v1beta", "v1")
    for route in (
        Route(f"/{version}/models/{{target:path}}", model_call, methods=["POST"]),
        Route(f"/{version}/cachedContents", caches, methods=["GET", "POST"]),
        Route(f"/{version}/cachedContents/{{cache_id}}", cache_item, methods=["GET", "PATCH", "DELETE"]),
    )
] + [
    # GET /v1/models is the OpenAI list; Gemini clients of the v1 API are told apart in api/openai.py.
    Route("/v1beta/models", list_models, methods=["GET"]),
    Route("/v1beta/models/{target}", get_model, methods=["GET"]),
]

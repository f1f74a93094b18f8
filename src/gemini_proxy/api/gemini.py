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

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gemini_proxy.api.auth import client_of
from gemini_proxy.api.common import JSON, check_model_id, read_body, render_google, services, surface
from gemini_proxy.api.owned import check_cache, check_cache_in_raw, remember_cache, visible_caches
from gemini_proxy.api.streaming import StreamResponse
from gemini_proxy.errors import InvalidRequest, NotFound, UpstreamUnavailable
from gemini_proxy.translate.model_list import model_id
from gemini_proxy.upstream import urls
from gemini_proxy.upstream.allowed import allowed_models, check_model, is_allowed
from gemini_proxy.upstream.caches import CachePage
from gemini_proxy.upstream.gateway import Answer

# Query parameters that mean something to Google and nothing secret.
_FORWARDED_QUERY = ("alt", "pageSize", "pageToken", "filter", "updateMask", "$alt")
_CACHE_ID = re.compile(r"^[A-Za-z0-9_\-]+$")


def _version(request: Request) -> urls.Version:
    """``v1beta`` or ``v1``: the proxy forwards to the API version the client called."""
    return "v1" if request.scope["path"].startswith("/v1/") else "v1beta"


def _query(request: Request) -> dict[str, str] | None:
    if not request.scope["query_string"]:
        return None
    params = request.query_params
    return {name: params[name] for name in _FORWARDED_QUERY if name in params}


def _passthrough(answer: Answer) -> Response:
    return Response(answer.raw, status_code=answer.status, media_type=answer.headers.get("content-type", JSON))


@surface(render_google, "gemini")
async def model_call(request: Request) -> Response:
    """``POST /v1beta/models/{model}:{method}``: generate, stream, count, embed (``urls.NATIVE_METHODS``)."""
    svc = services(request)
    version, target = _version(request), request.path_params["target"]
    model, sep, method = target.partition(":")
    if not sep or method not in urls.NATIVE_METHODS:
        raise NotFound(
            f"Unknown method for {request.url.path[:200]}; expected /{version}/models/{{model}}:{{method}}"
            f" with a method of {', '.join(sorted(urls.NATIVE_METHODS))}."
        )
    check_model_id(model, param="model")
    request.state.model = model
    body = await read_body(request)
    await check_cache_in_raw(svc, body, client_of(request.scope))
    if method == urls.STREAM:
        upstream = await svc.generation.stream_raw(model, body, _query(request), version=version)

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
    return _passthrough(await svc.generation.call_raw(model, method, body, _query(request), version=version))


@surface(render_google, "gemini")
async def list_models(request: Request) -> Response:
    answer = await services(request).models.list_page(_query(request), version=_version(request))
    scope = allowed_models.get()
    if scope is None or answer.status != 200:
        return _passthrough(answer)
    # A client with an allow-list of models sees those only (a page may so come out shorter).
    page = answer.json()
    if isinstance(page, dict) and isinstance(page.get("models"), list):
        page["models"] = [m for m in page["models"] if isinstance(m, dict) and is_allowed(model_id(m), scope)]
    return Response(orjson.dumps(page, option=orjson.OPT_INDENT_2) + b"\n", media_type=JSON)


@surface(render_google, "gemini")
async def get_model(request: Request) -> Response:
    model = check_model_id(request.path_params["target"], param="name")
    check_model(model)  # another model than the client's own: 403, as for using it
    return _passthrough(await services(request).models.get(model, _query(request), version=_version(request)))


@surface(render_google, "gemini")
async def caches(request: Request) -> Response:
    """``cachedContents`` create and list; the creating key is remembered for affinity, and the
    creating client for ownership (``owned.py``): a listing shows the caller's caches only."""
    svc = services(request)
    version = _version(request)
    client = client_of(request.scope)
    if request.method == "GET":
        page = await svc.caches.list(_query(request) or {}, version=version)
        if not isinstance(page, CachePage):
            return _passthrough(page)
        return _cache_page(CachePage(tuple(await visible_caches(svc, page.items, client)), page.next_page_token))
    answer = await svc.caches.create(await read_body(request), _query(request), version=version)
    if answer.status == 200:
        await remember_cache(svc, answer.raw, client)
    return _passthrough(answer)


@surface(render_google, "gemini")
async def cache_item(request: Request) -> Response:
    """``cachedContents/{id}`` get, patch and delete, sent with the key that created the cache."""
    svc = services(request)
    cache_id = request.path_params["cache_id"]
    if not _CACHE_ID.match(cache_id):
        raise InvalidRequest(f"Invalid cache name cachedContents/{cache_id}.", param="name")
    await check_cache(svc, f"cachedContents/{cache_id}", client_of(request.scope))
    body = await read_body(request) if request.method == "PATCH" else None
    answer = await svc.caches.item(
        request.method, f"cachedContents/{cache_id}", body=body, query=_query(request), version=_version(request)
    )
    return _passthrough(answer)


def _cache_page(page: CachePage) -> Response:
    body: dict[str, object] = {}
    if page.items:
        body["cachedContents"] = list(page.items)
    if page.next_page_token:
        body["nextPageToken"] = page.next_page_token
    return Response(orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n", media_type=JSON)


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

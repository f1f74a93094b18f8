"""The OpenAI Responses surface: ``/v1/responses`` (create, stream, get, delete, input items,
input tokens). See ``docs/responses.md``.

As on Chat Completions the route only wires: read the body, the I/O translation needs (the
stored conversation of ``previous_response_id``, fetched media), translate (pure,
``translate/responses``), one call to ``svc.generation``, translate back, store (``store: true``,
the default), render. Errors are OpenAI's shape (``render_openai``), with ``Retry-After`` on 429.

Stored responses belong to the client that made them (``state/responses.py``, under the
client's name): another client gets a 404; the admin token finds any client's.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from random import getrandbits
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gemini_proxy.api.auth import client_of, owners_visible
from gemini_proxy.api.common import Services, json_response, read_json_object, render_openai, services, surface
from gemini_proxy.api.owned import check_cache
from gemini_proxy.api.streaming import StreamResponse
from gemini_proxy.errors import InvalidRequest, NotFound, ProxyError
from gemini_proxy.state.responses import ResponseStore
from gemini_proxy.translate.responses import (
    Conversation,
    ResponsesCall,
    ResponsesStreamTranslator,
    StoredResponse,
    collect_media_urls,
    count_tokens_request,
    input_tokens_response,
    sse,
    stored_record,
    to_gemini_request,
    to_input_items,
    to_response,
)
from gemini_proxy.upstream.sse import GeminiEventDecoder, check_event

SSE_MEDIA_TYPE = "text/event-stream; charset=utf-8"
SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
MAX_LIST_LIMIT = 100

log = logging.getLogger("gemini_proxy")


def new_id(prefix: str) -> str:
    """Item, call and response ids (``msg_``, ``fc_``, ``rs_``, ``call_``, ``resp_``): unique, not secret."""
    return f"{prefix}_{getrandbits(128):032x}"


def response_store(svc: Services) -> ResponseStore:
    s = svc.settings
    return ResponseStore(svc.store, retention=s.responses_retention, max_record_bytes=s.responses_max_record_bytes)


async def _keep(svc: Services, owner: str, call: ResponsesCall, record: StoredResponse) -> None:
    """Stores a finished response. A store that fails does not fail the answer (the client has
    it); the id is then unknown to GET and previous_response_id, and the log says why."""
    if not call.store:
        return
    try:
        if not await response_store(svc).put(owner, record):
            log.warning("response not stored: larger than GEMINI_PROXY_RESPONSES_MAX_RECORD_BYTES",
                        extra={"response_id": record["response"]["id"]})  # fmt: skip
    except Exception:
        log.exception("response not stored: the state store failed", extra={"response_id": record["response"]["id"]})


def owner_of(request: Request) -> str:
    """Who a response this request stores belongs to: its client's name (``anon`` without client tokens)."""
    return client_of(request.scope).name


async def find_stored(request: Request, svc: Services, response_id: str) -> tuple[str, dict[str, Any]] | None:
    """The stored response ``response_id`` and its owner, if this request's client may see it: its
    own, or any client's for the admin token."""
    store = response_store(svc)
    for owner in owners_visible(client_of(request.scope), svc.clients):
        stored = await store.get(owner, response_id)
        if stored is not None:
            return owner, stored
    return None


def _not_found(response_id: str, param: str | None = None) -> NotFound:
    if param == "previous_response_id":
        return NotFound(f"Previous response with id '{response_id}' not found.", param=param,
                        code="previous_response_not_found")  # fmt: skip
    return NotFound(f"Response with id '{response_id}' not found.", param=param)


async def _prepare(request: Request, svc: Services, body: dict[str, Any]) -> ResponsesCall:
    """The I/O a request needs before translation (stored conversation, media), then the translation."""
    previous: Conversation | None = None
    previous_id = body.get("previous_response_id")
    if isinstance(previous_id, str) and previous_id:
        found = await find_stored(request, svc, previous_id)
        if found is None:
            raise _not_found(previous_id, "previous_response_id")
        previous = found[1]["conversation"]
    urls = collect_media_urls(body)
    fetched = await svc.media.fetch_all(urls) if urls else {}
    return to_gemini_request(
        body,
        aliases=svc.aliases,
        default_model=svc.settings.default_model,
        fetched_media=fetched,
        previous=previous,
        schema_cache=svc.schema_cache,
    )


def _encode(value: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        raise InvalidRequest("The request is nested too deeply to be sent to Gemini.", param="input") from None


@surface(render_openai, "openai")
async def create_response(request: Request) -> Response:
    svc = services(request)
    body = await read_json_object(request)
    call = await _prepare(request, svc, body)
    request.state.model = call.model
    await check_cache(svc, call.gemini_body.get("cachedContent"), client_of(request.scope))
    payload = _encode(call.gemini_body)
    owner = owner_of(request)
    response_id, created = new_id("resp"), int(time.time())
    input_items = to_input_items(body, new_id) if call.store else []  # only a stored response lists them
    if call.stream:
        return await _stream(svc, call, payload, owner, response_id, created, input_items)
    answer = await svc.generation.generate(call.model, payload, gemini_body=call.gemini_body)
    result = to_response(answer.json(), call=call, response_id=response_id, created_at=created,
                         completed_at=int(time.time()), new_id=new_id)  # fmt: skip
    await _keep(svc, owner, call, stored_record(call, result, input_items))
    return json_response(result.body)


async def _stream(
    svc: Services,
    call: ResponsesCall,
    payload: bytes,
    owner: str,
    response_id: str,
    created: int,
    input_items: list[dict[str, Any]],
) -> Response:
    # Errors up to here (including every retry) are ordinary HTTP errors: nothing was sent yet.
    upstream = await svc.generation.stream(call.model, payload, gemini_body=call.gemini_body)
    translator = ResponsesStreamTranslator(call, response_id=response_id, created_at=created, new_id=new_id)

    async def events() -> AsyncIterator[bytes]:
        decoder = GeminiEventDecoder()
        out = [sse(e) for e in translator.start()]
        yield b"".join(out)  # response.created goes out at once
        out = []
        try:
            async with contextlib.aclosing(upstream.chunks()) as chunks:
                async for data in chunks:
                    for event in decoder.feed(data):
                        out.extend(sse(e) for e in translator.feed(check_event(event)))
                    if out:
                        yield b"".join(out)
                        out = []
            for event in decoder.close():
                out.extend(sse(e) for e in translator.feed(check_event(event)))
            out.extend(sse(e) for e in translator.finish(completed_at=int(time.time())))
        except ProxyError as exc:
            out.extend(sse(e) for e in translator.fail(exc))
        # Stored before the last event goes out: a follow-up sent on response.completed finds it.
        result = translator.result
        await _keep(svc, owner, call, stored_record(call, result, input_items))
        yield b"".join(out)

    return StreamResponse(  # type: ignore[return-value]
        events(), media_type=SSE_MEDIA_TYPE, headers=SSE_HEADERS, on_close=upstream.close
    )


@surface(render_openai, "openai")
async def get_response(request: Request) -> Response:
    svc = services(request)
    response_id = request.path_params["response_id"]
    if request.query_params.get("stream") in ("true", "1"):
        raise InvalidRequest("Streaming a stored response again is not supported.", param="stream")
    found = await find_stored(request, svc, response_id)
    if found is None:
        raise _not_found(response_id)
    return json_response(found[1]["response"])


@surface(render_openai, "openai")
async def delete_response(request: Request) -> Response:
    svc = services(request)
    response_id = request.path_params["response_id"]
    found = await find_stored(request, svc, response_id)
    if found is None or not await response_store(svc).delete(found[0], response_id):
        raise _not_found(response_id)
    return json_response({"id": response_id, "object": "response", "deleted": True})


@surface(render_openai, "openai")
async def list_input_items(request: Request) -> Response:
    svc = services(request)
    response_id = request.path_params["response_id"]
    query = request.query_params
    limit = _limit(query.get("limit"))
    order = query.get("order") or "desc"
    if order not in ("asc", "desc"):
        raise InvalidRequest("order must be 'asc' or 'desc'.", param="order")
    found = await find_stored(request, svc, response_id)
    if found is None:
        raise _not_found(response_id)
    items = list(found[1]["input_items"])
    if order == "desc":
        items.reverse()
    after = query.get("after")
    if after:
        ids = [item.get("id") for item in items]
        if after not in ids:
            raise InvalidRequest(f"No input item with id '{after}' in response '{response_id}'.", param="after")
        items = items[ids.index(after) + 1 :]
    page = items[:limit]
    return json_response({
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else "",
        "last_id": page[-1]["id"] if page else "",
        "has_more": len(items) > limit,
    })  # fmt: skip


def _limit(raw: str | None) -> int:
    if raw is None:
        return 20
    try:
        limit = int(raw)
    except ValueError:
        raise InvalidRequest("limit must be an integer between 1 and 100.", param="limit") from None
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise InvalidRequest("limit must be an integer between 1 and 100.", param="limit")
    return limit


@surface(render_openai, "openai")
async def input_tokens(request: Request) -> Response:
    """Exact: the same translation as a create, counted by Gemini's ``countTokens``."""
    svc = services(request)
    body = await read_json_object(request)
    body.pop("stream", None)
    call = await _prepare(request, svc, body)
    request.state.model = call.model
    await check_cache(svc, call.gemini_body.get("cachedContent"), client_of(request.scope))
    answer = await svc.generation.count_tokens(call.model, _encode(count_tokens_request(call)))
    return json_response(input_tokens_response(answer.json()))


routes = [
    Route("/v1/responses", create_response, methods=["POST"]),
    Route("/v1/responses/input_tokens", input_tokens, methods=["POST"]),
    Route("/v1/responses/{response_id}", get_response, methods=["GET"]),
    Route("/v1/responses/{response_id}", delete_response, methods=["DELETE"]),
    Route("/v1/responses/{response_id}/input_items", list_input_items, methods=["GET"]),
    # Without /v1, for clients configured with a bare base URL (as /chat/completions).
    Route("/responses", create_response, methods=["POST"]),
    Route("/responses/input_tokens", input_tokens, methods=["POST"]),
    Route("/responses/{response_id}", get_response, methods=["GET"]),
    Route("/responses/{response_id}", delete_response, methods=["DELETE"]),
    Route("/responses/{response_id}/input_items", list_input_items, methods=["GET"]),
]

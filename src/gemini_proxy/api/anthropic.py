"""The Anthropic surface: ``/v1/messages``, ``/v1/messages/count_tokens``, and ``GET /v1/models``
for requests that carry ``anthropic-version``.

Routes only wire things together, as on the OpenAI surface (``api/openai.py``): read the body,
fetch media and remembered thought signatures, translate (``translate/anthropic``, pure), one
call to a service of ``upstream/``, translate back, render. Errors are Anthropic's
``{"type": "error", ...}`` with a ``request-id`` header (``common.render_anthropic``). Query
strings (Claude Code's ``?beta=true``) and the ``anthropic-version`` / ``anthropic-beta`` headers
are accepted and need nothing: the betas Claude Code sends mean nothing for Gemini.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from random import getrandbits
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gemini_proxy.api.auth import client_of
from gemini_proxy.api.common import (
    SSE_HEADERS,
    Services,
    json_response,
    new_request_id,
    read_json_object,
    recall_signatures,
    remember_signatures,
    render_anthropic,
    services,
    surface,
)
from gemini_proxy.api.owned import check_cache
from gemini_proxy.api.streaming import StreamResponse
from gemini_proxy.errors import InvalidRequest, ProxyError
from gemini_proxy.translate import anthropic as ta
from gemini_proxy.translate.anthropic.model_list import (
    find_anthropic_model,
    to_anthropic_model_page,
    to_anthropic_models,
)
from gemini_proxy.translate.model_list import model_id
from gemini_proxy.upstream import urls
from gemini_proxy.upstream.allowed import allowed_models, is_allowed
from gemini_proxy.upstream.gateway import UpstreamStream
from gemini_proxy.upstream.sse import GeminiEventDecoder, check_event

SSE_MEDIA_TYPE = "text/event-stream; charset=utf-8"
PING_INTERVAL = 10.0
"""Seconds of silence from Gemini after which a ``ping`` event keeps the client's connection alive."""


def new_message_id() -> str:
    return f"msg_{getrandbits(96):024x}"


def new_block_id(prefix: str) -> str:
    """``toolu_...`` / ``srvtoolu_...``: unique, not secret."""
    return f"{prefix}{getrandbits(96):024x}"


def _encode(gemini_body: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(gemini_body)
    except orjson.JSONEncodeError:
        raise InvalidRequest("The request is nested too deeply to be sent to Gemini.", param="messages") from None


async def _lookups(
    svc: Services, body: dict[str, Any], client: str
) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """The I/O a request needs before translation: remembered signatures and fetched media."""
    urls_ = ta.collect_media_urls(body)
    fetched = await svc.media.fetch_all(urls_) if urls_ else {}
    missing = ta.missing_signature_tool_ids(body)
    signatures = await recall_signatures(svc, missing, client)
    return signatures, fetched


@surface(render_anthropic, "anthropic")
async def messages(request: Request) -> Response:
    svc = services(request)
    body = await read_json_object(request)
    client = client_of(request.scope).name
    signatures, fetched = await _lookups(svc, body, client)
    call = ta.to_gemini_request(body, claude_models=svc.claude_models, aliases=svc.aliases, signatures=signatures,
                                fetched_media=fetched, schema_cache=svc.schema_cache)  # fmt: skip
    request.state.model = call.model
    await check_cache(svc, call.gemini_body.get("cachedContent"), client_of(request.scope))
    payload = _encode(call.gemini_body)
    if call.stream:
        return await _stream(svc, call, payload, client)
    answer = await svc.generation.generate(call.model, payload, gemini_body=call.gemini_body)
    message = ta.to_message(answer.json(), call=call, message_id=new_message_id(), new_id=new_block_id)
    remember_signatures(svc, ta.signatures_of(message["content"]), client)
    return json_response(message, headers={"request-id": new_request_id()})


async def _stream(svc: Services, call: ta.MessagesCall, payload: bytes, client: str) -> Response:
    # Errors up to here (every retry included) are ordinary HTTP errors: nothing was sent yet.
    upstream = await svc.generation.stream(call.model, payload, gemini_body=call.gemini_body)
    translator = ta.MessageStreamTranslator(call, message_id=new_message_id(), new_id=new_block_id)
    return StreamResponse(  # type: ignore[return-value]
        _events(svc, call, upstream, translator, client), media_type=SSE_MEDIA_TYPE,
        headers={**SSE_HEADERS, "request-id": new_request_id()}, on_close=upstream.close,
    )  # fmt: skip


async def _events(
    svc: Services,
    call: ta.MessagesCall,
    upstream: UpstreamStream,
    translator: ta.MessageStreamTranslator,
    client: str,
) -> AsyncIterator[bytes]:
    """Gemini's chunks as Anthropic's events, each read's worth as soon as it is translated; a
    ``ping`` (after ``message_start``) whenever Gemini stays silent for ``PING_INTERVAL``."""
    decoder = GeminiEventDecoder()
    out: list[bytes] = []

    def translate(events: list[ta.Event]) -> None:
        for event in events:
            out.append(ta.encode_event(event))

    try:
        async with contextlib.aclosing(upstream.chunks(idle=PING_INTERVAL)) as chunks:
            async for data in chunks:
                if not data:  # silent for PING_INTERVAL
                    translate(translator.start())
                    out.append(ta.PING)
                else:
                    for event in decoder.feed(data):
                        translate(translator.feed(check_event(event)))
                if out:
                    yield b"".join(out)
                    out = []
        for event in decoder.close():
            translate(translator.feed(check_event(event)))
        translate(translator.finish())
        yield b"".join(out)
    except ProxyError as exc:
        out.append(ta.encode_event(ta.error_event(exc)))
        yield b"".join(out)
    finally:
        remember_signatures(svc, translator.signatures, client)


@surface(render_anthropic, "anthropic")
async def count_tokens(request: Request) -> Response:
    """Gemini's ``countTokens``: exact, system instruction and tools included."""
    svc = services(request)
    body = await read_json_object(request)
    signatures, fetched = await _lookups(svc, body, client_of(request.scope).name)
    call = ta.to_count_tokens_request(body, claude_models=svc.claude_models, aliases=svc.aliases,
                                      signatures=signatures, fetched_media=fetched,
                                      schema_cache=svc.schema_cache)  # fmt: skip
    request.state.model = call.model
    await check_cache(svc, call.gemini_body.get("cachedContent"), client_of(request.scope))
    answer = await svc.generation.call_raw(call.model, urls.COUNT_TOKENS, _encode(call.gemini_body), None,
                                           version="v1beta")  # fmt: skip
    return json_response(ta.count_tokens_response(answer.json()), headers={"request-id": new_request_id()})


async def _models(svc: Services) -> list[dict[str, Any]]:
    catalog = await svc.models.catalog()
    scope = allowed_models.get()  # a client with an allow-list of models sees those only
    models = [m for m in catalog.models if is_allowed(model_id(m), scope)]
    return to_anthropic_models(models, created=catalog.fetched_at)


@surface(render_anthropic, "anthropic")
async def list_models(request: Request) -> Response:
    page = to_anthropic_model_page(await _models(services(request)), request.query_params)
    return json_response(page, headers={"request-id": new_request_id()})


@surface(render_anthropic, "anthropic")
async def get_model(request: Request) -> Response:
    entry = find_anthropic_model(await _models(services(request)), request.path_params["target"])
    return json_response(entry, headers={"request-id": new_request_id()})


routes = [
    Route("/v1/messages", messages, methods=["POST"]),
    Route("/v1/messages/count_tokens", count_tokens, methods=["POST"]),
    # GET /v1/models[/{id}] is shared with the OpenAI and Gemini surfaces: api/openai.py routes it here.
]

"""The OpenAI surface: ``/v1/chat/completions``, ``/v1/embeddings``, ``/v1/models``.

Routes only wire things together: read the body, fetch media and remembered thought signatures
(the only I/O before translation), translate (pure), one call to a service of ``upstream/``
(generation, embeddings, models), translate back, render.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from random import getrandbits
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gemini_proxy.api import anthropic
from gemini_proxy.api import gemini as native
from gemini_proxy.api.auth import client_of
from gemini_proxy.api.common import (
    SSE_HEADERS,
    EitherSurface,
    Services,
    json_response,
    read_json_object,
    recall_signatures,
    remember_signatures,
    render_openai,
    services,
    surface,
)
from gemini_proxy.api.owned import check_cache
from gemini_proxy.api.streaming import StreamResponse
from gemini_proxy.errors import InvalidRequest, MethodNotAllowed, ProxyError
from gemini_proxy.translate import (
    ChatCall,
    ChatStreamTranslator,
    collect_media_urls,
    missing_signature_call_ids,
    signatures_of,
    to_chat_completion,
    to_gemini_request,
)
from gemini_proxy.translate.embeddings import (
    embedding_inputs,
    embedding_options,
    to_batch_embed_bodies,
    to_embedding_response,
)
from gemini_proxy.translate.model_list import find_model, model_id, to_openai_model_list
from gemini_proxy.translate.models import resolve_model
from gemini_proxy.upstream.allowed import allowed_models, is_allowed
from gemini_proxy.upstream.sse import GeminiEventDecoder, check_event

SSE_MEDIA_TYPE = "text/event-stream; charset=utf-8"  # what api.openai.com sends


# Ids need to be unique, not secret: Python's generator (seeded from the OS, reseeded in each
# forked worker) costs no system call per id, unlike os.urandom.
def new_call_id() -> str:
    return f"call_{getrandbits(96):024x}"


def new_completion_id() -> str:
    return f"chatcmpl-{getrandbits(96):024x}"


async def prepare_chat(svc: Services, body: dict[str, Any], client: str) -> ChatCall:
    """The I/O a chat request needs before translation, then the translation itself. ``client``:
    whose remembered signatures the history's tool calls may get (``recall_signatures``)."""
    urls = collect_media_urls(body)
    fetched = await svc.media.fetch_all(urls) if urls else {}
    missing = missing_signature_call_ids(body)
    signatures = await recall_signatures(svc, missing, client)
    call = to_gemini_request(
        body,
        aliases=svc.aliases,
        default_model=svc.settings.default_model,
        signatures=signatures,
        fetched_media=fetched,
        schema_cache=svc.schema_cache,
    )
    return call


def encode_gemini_body(call: ChatCall) -> bytes:
    """The Gemini request as JSON. orjson stops at 254 levels of nesting (and parses up to 1024):
    a request nested that deep (tool arguments, say) is the client's problem, not a 500."""
    try:
        return orjson.dumps(call.gemini_body)
    except orjson.JSONEncodeError:
        raise InvalidRequest("The request is nested too deeply to be sent to Gemini.", param="messages") from None


@surface(render_openai, "openai")
async def chat_completions(request: Request) -> Response:
    svc = services(request)
    client = client_of(request.scope).name
    call = await prepare_chat(svc, await read_json_object(request), client)
    request.state.model = call.model
    await check_cache(svc, call.gemini_body.get("cachedContent"), client_of(request.scope))
    payload = encode_gemini_body(call)
    if call.stream:
        return await _stream_chat(svc, call, payload, client)
    answer = await svc.generation.generate(call.model, payload, gemini_body=call.gemini_body)
    completion = to_chat_completion(
        answer.json(), call=call, completion_id=new_completion_id(), created=int(time.time()), new_call_id=new_call_id
    )
    remember_signatures(svc, signatures_of(completion), client)
    return json_response(completion)


async def _stream_chat(svc: Services, call: ChatCall, payload: bytes, client: str) -> Response:
    # Errors up to here (including every retry) are ordinary HTTP errors: nothing was sent yet.
    upstream = await svc.generation.stream(call.model, payload, gemini_body=call.gemini_body)
    translator = ChatStreamTranslator(
        call, completion_id=new_completion_id(), created=int(time.time()), new_call_id=new_call_id
    )

    async def events() -> AsyncIterator[bytes]:
        decoder = GeminiEventDecoder()
        failed = started = False
        out: list[bytes] = []  # translated, not sent yet: an error event later in the same read sends it first
        try:
            async with contextlib.aclosing(upstream.chunks()) as chunks:
                async for data in chunks:
                    for event in decoder.feed(data):
                        out.extend(_sse(chunk) for chunk in _translate_event(translator, event))
                        if out and not started:  # the first words go out before the rest of the read is translated
                            started = True
                            yield b"".join(out)
                            out = []
                    if out:
                        yield b"".join(out)
                        out = []
            for event in decoder.close():
                out.extend(_sse(chunk) for chunk in _translate_event(translator, event))
            out.extend(_sse(chunk) for chunk in translator.finish())
            yield b"".join(out)
        except ProxyError as exc:
            failed = True
            out.append(_sse(translator.error_chunk(exc)))
            yield b"".join(out)
        finally:
            remember_signatures(svc, translator.signatures, client)
        if not failed:
            yield b"data: [DONE]\n\n"

    return StreamResponse(  # type: ignore[return-value]
        events(), media_type=SSE_MEDIA_TYPE, headers=SSE_HEADERS, on_close=upstream.close
    )


def _translate_event(translator: ChatStreamTranslator, event: dict[str, Any]) -> list[dict[str, Any]]:
    return translator.feed(check_event(event))


def _sse(chunk: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


@surface(render_openai, "openai")
async def embeddings(request: Request) -> Response:
    svc = services(request)
    body = await read_json_object(request)
    texts = embedding_inputs(body)
    dimensions, encoding = embedding_options(body)
    model = resolve_model(body.get("model"), aliases=svc.aliases, default=None)
    request.state.model = model
    bodies = to_batch_embed_bodies(texts, model=model, dimensions=dimensions)
    embedded = await svc.embeddings.embed(model, bodies)
    response = to_embedding_response(
        embedded.answers,
        model=str(body.get("model")),
        encoding_format=encoding,
        prompt_tokens=embedded.prompt_tokens,
        expected=len(texts),
    )
    return json_response(response)


async def _model_listing(svc: Services) -> dict[str, Any]:
    """Google's model list (``upstream.models``, cached there) in OpenAI's shape: for a client with
    an allow-list of models, those models only (and the aliases that stand for them)."""
    catalog = await svc.models.catalog()
    scope = allowed_models.get()
    if scope is None:
        return to_openai_model_list(catalog.models, aliases=svc.aliases, created=int(catalog.fetched_at))
    models = [m for m in catalog.models if is_allowed(model_id(m), scope)]
    aliases = {alias: target for alias, target in svc.aliases.items() if is_allowed(target, scope)}
    return to_openai_model_list(models, aliases=aliases, created=int(catalog.fetched_at))


@surface(render_openai, "openai")
async def _list_models(request: Request) -> Response:
    return json_response(await _model_listing(services(request)))


@surface(render_openai, "openai")
async def _get_model(request: Request) -> Response:
    return json_response(find_model(await _model_listing(services(request)), request.path_params["target"]))


@surface(render_openai, None)
async def _post_to_model(request: Request) -> Response:
    """``POST /v1/models/{id}`` without a Gemini ``:method``: OpenAI's model resource is read-only."""
    response = render_openai(
        MethodNotAllowed(f"POST is not allowed on {request.url.path}; allowed: GET.", code="method_not_allowed")
    )
    response.headers["allow"] = "GET"
    return response


routes = [
    Route("/v1/chat/completions", chat_completions, methods=["POST"]),
    Route("/v1/embeddings", embeddings, methods=["POST"]),
    # GET /v1/models: OpenAI's list, Google's for a Gemini client of the v1 API, Anthropic's with anthropic-version.
    Route("/v1/models", EitherSurface(openai=_list_models, google=native.list_models, anthropic=anthropic.list_models),
          methods=["GET"]),
    Route("/v1/models/{target}", EitherSurface(openai=_get_model, google=native.get_model,
                                               anthropic=anthropic.get_model), methods=["GET"]),
    # A Gemini client's POST /v1/models/{model}:{method}; anyone else's POST there is OpenAI's 405.
    Route("/v1/models/{target:path}", EitherSurface(openai=_post_to_model, google=native.model_call), methods=["POST"]),
    # The same routes without /v1, for clients configured with a bare base URL (LiteLLM's openai/
    # provider, some IDE plugins). Gemini's own clients always name a version, so these are OpenAI's.
    Route("/chat/completions", chat_completions, methods=["POST"]),
    Route("/embeddings", embeddings, methods=["POST"]),
    Route("/models", _list_models, methods=["GET"]),
    Route("/models/{target}", _get_model, methods=["GET"]),
]

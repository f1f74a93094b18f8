"""The OpenAI surface: ``/v1/chat/completions``, ``/v1/embeddings``, ``/v1/models``.

Routes only wire things together: read the body, fetch media and remembered thought signatures
(the only I/O before translation), translate (pure), send through the gateway, translate back.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from gemini_proxy.api.common import (
    Services,
    check_model_id,
    json_response,
    read_json_object,
    render_openai,
    services,
    surface,
)
from gemini_proxy.errors import ProxyError, UpstreamStatusError
from gemini_proxy.translate import (
    ChatCall,
    ChatStreamTranslator,
    collect_media_urls,
    missing_signature_call_ids,
    signatures_of,
    to_chat_completion,
    to_gemini_request,
)
from gemini_proxy.upstream.sse import GeminiEventDecoder

SIGNATURE_TTL = 7 * 24 * 3600.0
SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def new_call_id() -> str:
    return "call_" + os.urandom(12).hex()


def new_completion_id() -> str:
    return "chatcmpl-" + os.urandom(12).hex()


async def prepare_chat(svc: Services, body: dict[str, Any]) -> ChatCall:
    """The I/O a chat request needs before translation, then the translation itself."""
    urls = collect_media_urls(body)
    fetched = await svc.media.fetch_all(urls) if urls else {}
    missing = missing_signature_call_ids(body)
    signatures = await svc.store.get_many("sig", missing) if missing else {}
    call = to_gemini_request(
        body,
        aliases=svc.aliases,
        default_model=svc.settings.default_model,
        signatures=signatures,
        fetched_media=fetched,
    )
    check_model_id(call.model)
    return call


async def cache_affinity(svc: Services, gemini_body: dict[str, Any]) -> str | None:
    name = gemini_body.get("cachedContent")
    return await svc.pool.cache_owner(name) if isinstance(name, str) else None


def remember_signatures(svc: Services, signatures: dict[str, str]) -> None:
    """Stores thought signatures off the request path (a write must not delay the answer)."""
    if signatures:
        task = asyncio.get_running_loop().create_task(svc.store.put_many("sig", signatures, ttl=SIGNATURE_TTL))
        svc.background.add(task)
        task.add_done_callback(svc.background.discard)


@surface(render_openai, "openai")
async def chat_completions(request: Request) -> Response:
    svc = services(request)
    call = await prepare_chat(svc, await read_json_object(request))
    request.state.model = call.model
    payload = orjson.dumps(call.gemini_body)
    prefer = await cache_affinity(svc, call.gemini_body)
    if call.stream:
        return await _stream_chat(svc, call, payload, prefer)
    answer = await svc.gateway.call(
        call.model, "POST", f"/v1beta/models/{call.model}:generateContent", body=payload, prefer=prefer
    )
    completion = to_chat_completion(
        answer.json(), call=call, completion_id=new_completion_id(), created=int(time.time()), new_call_id=new_call_id
    )
    remember_signatures(svc, signatures_of(completion))
    usage = completion.get("usage") or {}
    svc.metrics.observe_tokens(call.model, usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0))
    return json_response(completion)


async def _stream_chat(svc: Services, call: ChatCall, payload: bytes, prefer: str | None) -> Response:
    # Errors up to here (including every retry) are ordinary HTTP errors: nothing was sent yet.
    upstream = await svc.gateway.open_stream(
        call.model, f"/v1beta/models/{call.model}:streamGenerateContent", body=payload, query={"alt": "sse"},
        prefer=prefer,
    )
    translator = ChatStreamTranslator(
        call, completion_id=new_completion_id(), created=int(time.time()), new_call_id=new_call_id
    )

    async def events() -> AsyncIterator[bytes]:
        decoder = GeminiEventDecoder()
        failed = False
        try:
            async with contextlib.aclosing(upstream.chunks()) as chunks:
                async for data in chunks:
                    out = [_sse(chunk) for event in decoder.feed(data) for chunk in _translate_event(translator, event)]
                    if out:
                        yield b"".join(out)
            out = [_sse(chunk) for event in decoder.close() for chunk in _translate_event(translator, event)]
            out.extend(_sse(chunk) for chunk in translator.finish())
            yield b"".join(out)
        except ProxyError as exc:
            failed = True
            yield _sse(translator.error_chunk(exc))
        finally:
            remember_signatures(svc, translator.signatures)
        if not failed:
            yield b"data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers=SSE_HEADERS)


def _translate_event(translator: ChatStreamTranslator, event: dict[str, Any]) -> list[dict[str, Any]]:
    if "error" in event and "candidates" not in event:
        error = event["error"] if isinstance(event["error"], dict) else {}
        raise UpstreamStatusError(int(error.get("code") or 502), event)
    return translator.feed(event)


def _sse(chunk: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


routes = [
    Route("/v1/chat/completions", chat_completions, methods=["POST"]),
    Route("/chat/completions", chat_completions, methods=["POST"]),
]

"""The seed's simple endpoint: ``POST /api/gemini/generate``.

``{"prompt", "model"?, "system"?, "max_tokens"?, "temperature"?}`` ->
``{"text", "model", "finish_reason", "usage": {...}}``. Same pool and same translation as the
OpenAI surface: the body is restated as a chat request.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gemini_proxy.api.common import Services, json_response, read_json_object, render_simple, services, surface
from gemini_proxy.api.openai import encode_gemini_body, new_call_id, new_completion_id, prepare_chat
from gemini_proxy.clients import ANON
from gemini_proxy.errors import InvalidRequest
from gemini_proxy.translate import ChatCall, to_chat_completion

_FIELDS = frozenset({"prompt", "model", "system", "max_tokens", "temperature"})


def to_chat_body(body: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise InvalidRequest(f"Unknown field {unknown[0]!r}; expected {sorted(_FIELDS)}.", param=unknown[0])
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidRequest("'prompt' must be a non-empty string.", param="prompt")
    messages: list[dict[str, Any]] = []
    system = body.get("system")
    if system is not None:
        if not isinstance(system, str):
            raise InvalidRequest("'system' must be a string.", param="system")
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": prompt})
    chat: dict[str, Any] = {"messages": messages}
    for name in ("model", "max_tokens", "temperature"):
        if body.get(name) is not None:
            chat[name] = body[name]
    return chat


async def prepare(svc: Services, body: dict[str, Any]) -> ChatCall:
    """The simple surface's body (also MCP's ``ask_gemini`` arguments) as a Gemini call. It names
    no tool calls, so no client's remembered signatures are looked up."""
    return await prepare_chat(svc, to_chat_body(body), ANON.name)


async def answer(svc: Services, call: ChatCall) -> dict[str, Any]:
    """One generateContent through the pool, as ``{"text", "model", "finish_reason", "usage"}``."""
    reply = await svc.generation.generate(call.model, encode_gemini_body(call), gemini_body=call.gemini_body)
    completion = to_chat_completion(
        reply.json(), call=call, completion_id=new_completion_id(), created=int(time.time()), new_call_id=new_call_id
    )
    choice = completion["choices"][0]
    usage = completion.get("usage") or {}
    return {
        "text": choice["message"].get("content") or "",
        "model": completion["model"],
        "finish_reason": choice["finish_reason"],
        "usage": {
            "prompt_tokens": usage.get("prompt_tokens", 0),
            "completion_tokens": usage.get("completion_tokens", 0),
            "total_tokens": usage.get("total_tokens", 0),
        },
    }


@surface(render_simple, "simple")
async def generate(request: Request) -> Response:
    svc = services(request)
    call = await prepare(svc, await read_json_object(request))
    request.state.model = call.model
    return json_response(await answer(svc, call))


routes = [Route("/api/gemini/generate", generate, methods=["POST"])]

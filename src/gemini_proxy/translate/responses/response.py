"""Gemini answer -> the ``response`` object; usage; grounding -> ``url_citation``; stored records.

* ``status``: ``completed``; ``incomplete`` with ``incomplete_details.reason``
  ``max_output_tokens`` (``MAX_TOKENS``) or ``content_filter`` (the finish reasons Chat
  Completions maps to ``content_filter``, and a blocked prompt); ``failed`` with ``error`` when the
  stream breaks (``code``: ``rate_limit_exceeded`` for a 429, ``invalid_prompt`` for a 400/404,
  else ``server_error``).
* ``usage``: ``input_tokens`` = prompt + tool-use prompt, ``cached_tokens`` = cached content,
  ``output_tokens`` = candidates + thoughts (``reasoning_tokens`` = thoughts), ``total_tokens`` =
  Gemini's total; ``cache_write_tokens`` is 0 (Gemini reports no cache writes).
* The request's parameters are echoed as OpenAI does (``ResponsesCall.echo``).
* Grounding (``groundingMetadata.groundingSupports``, UTF-8 byte offsets into the answer's text)
  -> ``url_citation`` annotations with character offsets into the message's text, one per
  supporting source, in order; duplicates dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gemini_proxy.errors import ProxyError

from ..errors import error_to_openai
from ..grounding import citations
from ..usage import to_usage
from .call import Conversation, ResponsesCall, StoredResponse


@dataclass(slots=True)
class ResponsesResult:
    body: dict[str, Any]
    """The ``response`` object."""
    conversation: Conversation
    """The conversation through this answer (what the store keeps for a follow-up)."""


def usage(meta: object) -> dict[str, Any]:
    u = to_usage(meta)
    return {
        "input_tokens": u["prompt_tokens"],
        "input_tokens_details": {"cached_tokens": u["prompt_tokens_details"]["cached_tokens"], "cache_write_tokens": 0},
        "output_tokens": u["completion_tokens"],
        "output_tokens_details": {"reasoning_tokens": u["completion_tokens_details"]["reasoning_tokens"]},
        "total_tokens": u["total_tokens"],
    }


def envelope(
    call: ResponsesCall,
    *,
    response_id: str,
    created_at: int,
    status: str,
    output: list[dict[str, Any]],
    usage_meta: object = None,
    incomplete_reason: str | None = None,
    error: dict[str, Any] | None = None,
    completed_at: int | None = None,
) -> dict[str, Any]:
    """The ``response`` object. ``usage`` is left out while in progress (the spec has it non-null)."""
    e = call.echo
    body: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": False,
        "completed_at": completed_at if status == "completed" else None,
        "error": error,
        "incomplete_details": {"reason": incomplete_reason} if incomplete_reason else None,
        "instructions": e["instructions"],
        "max_output_tokens": e["max_output_tokens"],
        "max_tool_calls": e["max_tool_calls"],
        "model": call.requested_model,
        "output": output,
        "parallel_tool_calls": e["parallel_tool_calls"],
        "previous_response_id": e["previous_response_id"],
        "prompt_cache_key": e["prompt_cache_key"],
        "reasoning": e["reasoning"],
        "safety_identifier": e["safety_identifier"],
        "service_tier": e["service_tier"],
        "store": e["store"],
        "temperature": e["temperature"],
        "text": e["text"],
        "tool_choice": e["tool_choice"],
        "tools": e["tools"],
        "top_logprobs": e["top_logprobs"],
        "top_p": e["top_p"],
        "truncation": e["truncation"],
        "metadata": e["metadata"] if e["metadata"] is not None else {},
    }
    if status != "in_progress":
        body["usage"] = usage(usage_meta)
    if isinstance(e["user"], str):
        body["user"] = e["user"]
    return body


def failure(exc: ProxyError) -> dict[str, Any]:
    """The ``error`` of a failed response."""
    status, err, _ = error_to_openai(exc)
    code = "rate_limit_exceeded" if status == 429 else "invalid_prompt" if status in (400, 404) else "server_error"
    return {"code": code, "message": err["error"]["message"]}


def error_event(exc: ProxyError, sequence_number: int) -> dict[str, Any]:
    """The ``error`` stream event (for a failure before ``response.created`` went out)."""
    err = error_to_openai(exc)[1]["error"]
    return {"type": "error", "code": err.get("code") or err.get("type"), "message": err["message"],
            "param": err.get("param"), "sequence_number": sequence_number}  # fmt: skip


def url_citations(grounding: object, text: str, start: int, end: int) -> list[dict[str, Any]]:
    """``url_citation`` annotations for the message whose text is ``full[start:end]`` (characters)."""
    return [{"type": "url_citation", "url": c.url, "title": c.title, "start_index": c.start, "end_index": c.end}
            for c in citations(grounding, text, start, end)]  # fmt: skip


def to_response(
    resp: dict[str, Any],
    *,
    call: ResponsesCall,
    response_id: str,
    created_at: int,
    completed_at: int,
    new_id: Callable[[str], str],
) -> ResponsesResult:
    """A unary ``generateContent`` answer -> the ``response`` object (and the conversation after it).

    ``new_id(prefix)`` makes item ids (``msg``, ``fc``, ``rs``) and call ids (``call``)."""
    from .stream import ResponsesStreamTranslator  # one accumulator for both: the same answer either way

    translator = ResponsesStreamTranslator(call, response_id=response_id, created_at=created_at, new_id=new_id,
                                           quiet=True)  # fmt: skip
    translator.feed(resp)
    translator.finish(completed_at=completed_at)
    return translator.result


def stored_record(call: ResponsesCall, result: ResponsesResult, input_items: list[dict[str, Any]]) -> StoredResponse:
    """What the response store keeps for ``result`` (see ``StoredResponse``)."""
    return {
        "response": result.body,
        "input_items": input_items,
        "conversation": result.conversation,
        "previous_response_id": call.previous_response_id,
    }


def to_input_items(body: object, new_id: Callable[[str], str]) -> list[dict[str, Any]]:
    """The request's ``input`` as items for ``GET /v1/responses/{id}/input_items``: a string becomes
    a user message; a message with string content gets an ``input_text``/``output_text`` part;
    items keep the id the client gave them, others get one. Call after ``to_gemini_request``."""
    input_ = body.get("input") if isinstance(body, dict) else None
    if isinstance(input_, str):
        input_ = [{"role": "user", "content": input_}]
    if not isinstance(input_, list):
        return []
    out = []
    for item in input_:
        if not isinstance(item, dict):
            continue
        item = dict(item)
        kind = item.get("type") or "message"
        item["type"] = kind
        if kind == "message":
            content = item.get("content")
            if isinstance(content, str):
                part_type = "output_text" if item.get("role") == "assistant" else "input_text"
                part: dict[str, Any] = {"type": part_type, "text": content}
                if part_type == "output_text":
                    part["annotations"] = []
                item["content"] = [part]
            item.setdefault("status", "completed")
        if not isinstance(item.get("id"), str):
            item["id"] = new_id({"message": "msg", "function_call": "fc", "reasoning": "rs"}.get(kind, "item"))
        out.append(item)
    return out

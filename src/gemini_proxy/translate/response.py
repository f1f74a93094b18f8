"""Gemini ``GenerateContentResponse`` -> OpenAI ``chat.completion``.

* One choice per candidate, by ``index`` (position when omitted). No candidates: one choice;
  a prompt ``blockReason`` gives ``finish_reason: content_filter`` and a ``refusal`` naming it.
* ``content`` is the joined text, or ``None`` when the candidate has no text (tool calls only,
  no ``content``/``parts``, blocked). A ``content_filter`` finish without text also gets a refusal.
* Thought-summary parts go to ``reasoning_content`` only when ``call.include_thoughts``.
* Function calls -> ``tool_calls`` with ids from ``new_call_id()`` and the part's
  ``thoughtSignature`` as ``extra_content.google.thought_signature``; ``call.parallel_tool_calls
  is False`` keeps only the first. Legacy ``functions`` requests get ``message.function_call``
  (first call) instead.
* A ``thoughtSignature`` on a non-call part (Gemini 3 puts one on the text / the empty final
  text part) is kept as the message's ``extra_content.google.thought_signature``; sent back in
  the history it returns to the message's last text part.
* ``inlineData`` output (image models) -> ``message.images`` as data URLs (OpenRouter's shape).
* Google Search grounding (``web_search_options`` was sent) -> ``message.annotations``: one
  ``url_citation`` per source and stretch of the text, with character offsets, as OpenAI's
  search models answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .call import ChatCall
from .candidates import block_refusal, filter_refusal, finish_reason, image, logprobs, parts_of, tool_call
from .grounding import citations
from .openai_types import Choice, Message, ToolCall
from .usage import to_usage


def to_chat_completion(
    resp: dict[str, Any], *, call: ChatCall, completion_id: str, created: int, new_call_id: Callable[[], str]
) -> dict[str, Any]:
    candidates = resp.get("candidates") if isinstance(resp, dict) else None
    choices: list[Choice] = []
    if isinstance(candidates, list) and candidates:
        for pos, cand in enumerate(candidates):
            if isinstance(cand, dict):
                choices.append(_choice(cand, pos, call, new_call_id))
        choices.sort(key=lambda c: c["index"])
    if not choices:
        refusal = block_refusal(resp) if isinstance(resp, dict) else None
        choices.append({
            "index": 0,
            "message": {"role": "assistant", "content": None, "refusal": refusal},
            "logprobs": None,
            "finish_reason": "content_filter" if refusal else "stop",
        })  # fmt: skip
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": call.requested_model,
        "choices": choices,
        "usage": to_usage(resp.get("usageMetadata") if isinstance(resp, dict) else None),
    }


def _choice(cand: dict[str, Any], pos: int, call: ChatCall, new_call_id: Callable[[], str]) -> Choice:
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[ToolCall] = []
    images: list[dict[str, Any]] = []
    signature: str | None = None
    for part in parts_of(cand):
        if not isinstance(part, dict):
            continue
        if "functionCall" in part:
            if call.parallel_tool_calls or not calls:
                calls.append(tool_call(part, new_call_id))
            continue
        sig = part.get("thoughtSignature")
        if isinstance(sig, str) and sig:
            signature = sig
        text = part.get("text")
        if isinstance(text, str):
            if part.get("thought") is True:
                if call.include_thoughts:
                    thoughts.append(text)
            else:
                texts.append(text)
        elif (img := image(part)) is not None:
            images.append(img)
    index = cand.get("index", pos)
    reason = finish_reason(cand.get("finishReason"), has_calls=bool(calls), legacy=call.legacy_functions)
    content = "".join(texts) or None  # Gemini 3 closes calls with an empty text part: still no content
    message: Message = {
        "role": "assistant",
        "content": content,
        "refusal": filter_refusal(cand) if reason == "content_filter" and not content else None,
    }
    if calls:
        if call.legacy_functions:
            message["function_call"] = calls[0]["function"]
        else:
            message["tool_calls"] = calls
    if thoughts:
        message["reasoning_content"] = "".join(thoughts)
    if images:
        message["images"] = images
    if signature is not None:
        message["extra_content"] = {"google": {"thought_signature": signature}}
    if call.web_search:
        message["annotations"] = url_annotations(cand.get("groundingMetadata"), content or "")
    return {
        "index": index if isinstance(index, int) else pos,
        "message": message,
        "logprobs": logprobs(cand) if call.logprobs else None,
        "finish_reason": reason,
    }


def url_annotations(grounding: object, text: str) -> list[dict[str, Any]]:
    """Chat's ``url_citation`` annotations for a message's text."""
    return [{"type": "url_citation", "url_citation": {"url": c.url, "title": c.title, "start_index": c.start,
                                                       "end_index": c.end}}
            for c in citations(grounding, text)]  # fmt: skip


def signatures_of(completion_or_chunk: object) -> dict[str, str]:
    """tool_call id -> thought signature in a ``chat.completion`` or chunk, for the route's store."""
    out: dict[str, str] = {}
    choices = completion_or_chunk.get("choices") if isinstance(completion_or_chunk, dict) else None
    if not isinstance(choices, list):
        return out
    for choice in choices:
        if not isinstance(choice, dict):
            continue
        msg = choice.get("message") or choice.get("delta")
        calls = msg.get("tool_calls") if isinstance(msg, dict) else None
        if not isinstance(calls, list):
            continue
        for tc in calls:
            extra = tc.get("extra_content") if isinstance(tc, dict) else None
            google = extra.get("google") if isinstance(extra, dict) else None
            sig = google.get("thought_signature") if isinstance(google, dict) else None
            if isinstance(sig, str) and isinstance(tc.get("id"), str):
                out[tc["id"]] = sig
    return out

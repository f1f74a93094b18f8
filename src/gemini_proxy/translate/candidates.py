"""Reading Gemini candidates: finish reasons, refusals, tool calls, logprobs.

Shared by ``response.py`` (unary) and ``stream.py``.

finish_reason: ``STOP`` (or none) -> ``stop``, or ``tool_calls`` when the candidate returned
function calls (``function_call`` for legacy ``functions`` requests); ``MAX_TOKENS`` -> ``length``;
``SAFETY``, ``RECITATION``, ``BLOCKLIST``, ``PROHIBITED_CONTENT``, ``SPII``, ``LANGUAGE``,
``IMAGE_*``, ``MODEL_ARMOR``, ``JAILBREAK`` and a prompt ``blockReason`` -> ``content_filter``.
Everything else (``OTHER``, ``MALFORMED_FUNCTION_CALL``, ``UNEXPECTED_TOOL_CALL``,
``TOO_MANY_TOOL_CALLS``, ``FINISH_REASON_UNSPECIFIED``, values added later) -> ``stop``:
the client gets what was produced and a reason every SDK understands.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from .openai_types import FinishReason, ToolCall

_FILTERED = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "LANGUAGE", "MODEL_ARMOR", "JAILBREAK"}
)


def finish_reason(reason: object, *, has_calls: bool, legacy: bool) -> FinishReason:
    if reason is None or reason == "STOP":
        if has_calls:
            return "function_call" if legacy else "tool_calls"
        return "stop"
    if reason == "MAX_TOKENS":
        return "length"
    if isinstance(reason, str) and (reason in _FILTERED or reason.startswith("IMAGE_")):
        return "content_filter"
    return "stop"


def block_refusal(response: dict[str, Any]) -> str | None:
    """Refusal text for a response whose prompt was blocked (``promptFeedback.blockReason``)."""
    feedback = response.get("promptFeedback")
    reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
    if not reason:
        return None
    text = f"The prompt was blocked by Gemini (blockReason: {reason})."
    detail = feedback.get("blockReasonMessage") if isinstance(feedback, dict) else None
    return f"{text} {detail}" if isinstance(detail, str) and detail else text


def filter_refusal(candidate: dict[str, Any]) -> str:
    text = f"The response was blocked by Gemini (finishReason: {candidate.get('finishReason')})."
    detail = candidate.get("finishMessage")
    return f"{text} {detail}" if isinstance(detail, str) and detail else text


def parts_of(candidate: dict[str, Any]) -> list[Any]:
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    return parts if isinstance(parts, list) else []


def tool_call(part: dict[str, Any], new_call_id: Callable[[], str]) -> ToolCall:
    fc = part["functionCall"]
    fc = fc if isinstance(fc, dict) else {}
    args = fc.get("args")
    call: ToolCall = {
        "id": new_call_id(),
        "type": "function",
        "function": {
            "name": str(fc.get("name", "")),
            "arguments": orjson.dumps(args if args is not None else {}).decode(),
        },
    }
    sig = part.get("thoughtSignature")
    if isinstance(sig, str) and sig:
        call["extra_content"] = {"google": {"thought_signature": sig}}
    return call


def image(part: dict[str, Any]) -> dict[str, Any] | None:
    blob = part.get("inlineData")
    if not isinstance(blob, dict) or not isinstance(blob.get("data"), str):
        return None
    mime = blob.get("mimeType") or "application/octet-stream"
    return {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{blob['data']}"}}


def _token(entry: object) -> dict[str, Any]:
    e: dict[str, Any] = entry if isinstance(entry, dict) else {}
    token = e.get("token")
    token = token if isinstance(token, str) else ""
    logprob = e.get("logProbability")
    return {
        "token": token,
        "logprob": logprob if isinstance(logprob, int | float) else -9999.0,
        "bytes": list(token.encode()),
    }


def logprobs(candidate: dict[str, Any]) -> dict[str, Any] | None:
    """``logprobsResult`` -> OpenAI ``{"content": [...], "refusal": None}`` (None if absent)."""
    result = candidate.get("logprobsResult")
    if not isinstance(result, dict):
        return None
    chosen = result.get("chosenCandidates")
    tops = result.get("topCandidates")
    chosen = chosen if isinstance(chosen, list) else []
    tops = tops if isinstance(tops, list) else []
    content = []
    for i, entry in enumerate(chosen):
        item = _token(entry)
        top = tops[i].get("candidates") if i < len(tops) and isinstance(tops[i], dict) else None
        item["top_logprobs"] = [_token(t) for t in top] if isinstance(top, list) else []
        content.append(item)
    return {"content": content, "refusal": None}

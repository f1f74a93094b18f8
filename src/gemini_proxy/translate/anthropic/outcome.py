"""Gemini ``usageMetadata`` -> Anthropic ``usage``; finish reasons -> ``stop_reason``.

Usage is exact, from the final ``usageMetadata``: Anthropic's ``input_tokens`` excludes cache reads
(total input = input + cache_creation + cache_read), and Gemini's ``promptTokenCount`` includes
``cachedContentTokenCount``, so ``input_tokens`` = prompt + tool-use prompt - cached and
``cache_read_input_tokens`` = cached. ``output_tokens`` = candidates + thoughts (Anthropic bills
thinking as output). ``cache_creation_input_tokens`` is always 0: Gemini's caches are made by an
explicit call, never as a side effect of a request.

stop_reason: STOP (or none) -> ``tool_use`` when tool_use blocks were returned, else ``end_turn``;
MAX_TOKENS -> ``max_tokens``; SAFETY, RECITATION, BLOCKLIST, PROHIBITED_CONTENT, SPII, LANGUAGE,
IMAGE_* and a blocked prompt -> ``refusal`` with ``stop_details.explanation`` naming Gemini's
reason; anything else -> ``end_turn``. Gemini does not say whether a stop sequence ended the
answer (its STOP covers both), so ``stop_sequence`` is never reported.
"""

from __future__ import annotations

from typing import Any, Literal

from ..candidates import finish_reason

StopReason = Literal["end_turn", "max_tokens", "stop_sequence", "tool_use", "refusal"]
_STOP: dict[str, StopReason] = {"stop": "end_turn", "tool_calls": "tool_use", "function_call": "tool_use",
                                "length": "max_tokens", "content_filter": "refusal"}  # fmt: skip


def _count(meta: dict[str, Any], key: str) -> int:
    value = meta.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def to_usage(meta: object, *, searches: int = 0, fetches: int = 0, server: bool = False) -> dict[str, Any]:
    m: dict[str, Any] = meta if isinstance(meta, dict) else {}
    cached = _count(m, "cachedContentTokenCount")
    prompt = _count(m, "promptTokenCount") + _count(m, "toolUsePromptTokenCount")
    thoughts = _count(m, "thoughtsTokenCount")
    usage: dict[str, Any] = {
        "input_tokens": max(0, prompt - cached),
        "output_tokens": _count(m, "candidatesTokenCount") + thoughts,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }
    if thoughts:
        usage["output_tokens_details"] = {"thinking_tokens": thoughts}
    if server:
        usage["server_tool_use"] = {"web_search_requests": searches, "web_fetch_requests": fetches}
    return usage


def stop_reason(reason: object, *, has_tool_use: bool) -> StopReason:
    return _STOP[finish_reason(reason, has_calls=has_tool_use, legacy=False)]


def refusal_details(explanation: str) -> dict[str, Any]:
    return {"type": "refusal", "category": None, "explanation": explanation}

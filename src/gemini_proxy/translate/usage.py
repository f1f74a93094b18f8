"""Gemini ``usageMetadata`` -> OpenAI ``usage``. Exact numbers only; absent fields count 0."""

from __future__ import annotations

from typing import Any

from .openai_types import Usage


def _count(meta: dict[str, Any], key: str) -> int:
    value = meta.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def to_usage(meta: object) -> Usage:
    """``prompt_tokens`` = prompt + tool-use prompt; ``completion_tokens`` = candidates + thoughts
    (OpenAI counts reasoning in completion tokens); ``total_tokens`` = Gemini's total."""
    m: dict[str, Any] = meta if isinstance(meta, dict) else {}
    prompt = _count(m, "promptTokenCount") + _count(m, "toolUsePromptTokenCount")
    thoughts = _count(m, "thoughtsTokenCount")
    completion = _count(m, "candidatesTokenCount") + thoughts
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": _count(m, "totalTokenCount"),
        "prompt_tokens_details": {"cached_tokens": _count(m, "cachedContentTokenCount")},
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    }

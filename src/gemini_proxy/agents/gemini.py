"""A job's Gemini request and what its answer means: pure functions, no I/O.

The request is built once, when the job is accepted, and kept in the job: a job resumed after
a restart asks Gemini exactly what it was accepted with, even if the agents file changed.

Reading the answer: the text is the candidate's non-thought text parts joined; usage is Gemini's
``usageMetadata`` exactly (never estimated); ``finish_reason`` is the simple surface's
(``stop``, ``length``, ``content_filter``). A prompt Gemini blocked, or an answer cut by a
filter before any text, is a failure (``content_filtered``) that still reports its usage.
"""

from __future__ import annotations

from typing import Any

import orjson

from gemini_proxy.agents.registry import Agent
from gemini_proxy.translate.candidates import block_refusal, filter_refusal, finish_reason, parts_of
from gemini_proxy.translate.usage import to_usage

__all__ = ["AnswerFailure", "build_request", "read_answer"]


class AnswerFailure(Exception):
    """Gemini answered 200 but with no usable result (blocked prompt, filtered answer)."""

    def __init__(self, message: str, code: str, usage: dict[str, int] | None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.usage = usage


def context_text(context: Any) -> str:
    return context if isinstance(context, str) else orjson.dumps(context, option=orjson.OPT_INDENT_2).decode()


def build_request(agent: Agent, task: str, context: Any = None) -> dict[str, Any]:
    """The ``generateContent`` body: the agent's system instruction and settings, then one user
    turn holding the context (when given) and the task."""
    parts: list[dict[str, Any]] = []
    if context is not None:
        parts.append({"text": f"Context:\n{context_text(context)}"})
    parts.append({"text": task})
    body: dict[str, Any] = {
        "systemInstruction": {"parts": [{"text": agent.system}]},
        "contents": [{"role": "user", "parts": parts}],
    }
    config: dict[str, Any] = {}
    if agent.temperature is not None:
        config["temperature"] = agent.temperature
    if agent.max_output_tokens is not None:
        config["maxOutputTokens"] = agent.max_output_tokens
    if agent.response_mime_type is not None:
        config["responseMimeType"] = agent.response_mime_type
    if agent.thinking_budget is not None:
        config["thinkingConfig"] = {"thinkingBudget": agent.thinking_budget}
    elif agent.thinking_level is not None:
        config["thinkingConfig"] = {"thinkingLevel": agent.thinking_level.upper()}
    if config:
        body["generationConfig"] = config
    return body


def job_usage(meta: object) -> dict[str, int] | None:
    if not isinstance(meta, dict):
        return None
    usage = to_usage(meta)
    return {
        "prompt_tokens": usage["prompt_tokens"],
        "completion_tokens": usage["completion_tokens"],
        "total_tokens": usage["total_tokens"],
        "reasoning_tokens": usage["completion_tokens_details"]["reasoning_tokens"],
        "cached_tokens": usage["prompt_tokens_details"]["cached_tokens"],
    }


def read_answer(answer: Any, *, json_mime: bool) -> tuple[dict[str, Any], dict[str, int] | None]:
    """``(result, usage)`` of a 200 answer, or ``AnswerFailure``."""
    response: dict[str, Any] = answer if isinstance(answer, dict) else {}
    usage = job_usage(response.get("usageMetadata"))
    refusal = block_refusal(response)
    if refusal is not None:
        raise AnswerFailure(refusal, "content_filtered", usage)
    candidates = response.get("candidates")
    candidate = candidates[0] if isinstance(candidates, list) and candidates and isinstance(candidates[0], dict) else {}
    text = "".join(
        str(p["text"])
        for p in parts_of(candidate)
        if isinstance(p, dict) and isinstance(p.get("text"), str) and not p.get("thought")
    )
    reason = finish_reason(candidate.get("finishReason"), has_calls=False, legacy=False)
    if not text and reason == "content_filter":
        raise AnswerFailure(filter_refusal(candidate), "content_filtered", usage)
    result: dict[str, Any] = {"text": text, "finish_reason": reason}
    version = response.get("modelVersion")
    if isinstance(version, str):
        result["model_version"] = version
    if json_mime and text:
        try:
            result["json"] = orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return result, usage

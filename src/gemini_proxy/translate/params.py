"""Sampling and output parameters -> ``generationConfig`` (+ Google's ``google`` extension).

Only what the client sent is mapped; nothing is invented (no default temperature etc.).
``n == 1`` is the default and is not sent as ``candidateCount`` (image models reject the field).

``reasoning_effort`` per model family (Google's OpenAI-compatibility table, docs/protocol.md §15):

* Gemini 2.5 -> ``thinkingBudget``: minimal/low 1024, medium 8192, high 24576, xhigh/max the top
  of the range (24576; 2.5 Pro 32768); none 0 on Flash/Flash-Lite, 128 (the minimum) on 2.5 Pro.
* Gemini 3 Flash/Flash-Lite -> ``thinkingLevel``: none/minimal MINIMAL, low LOW, medium MEDIUM,
  high/xhigh/max HIGH.
* Gemini 3.x Pro -> ``thinkingLevel``: none/minimal/low LOW, medium MEDIUM, high/xhigh/max HIGH;
  ``gemini-3-pro*`` (3.0, low/high only) sends HIGH for medium.

``none`` cannot turn thinking off on 2.5 Pro or Gemini 3; we send the lowest setting instead of
failing. Models outside these families (2.0, Gemma) get no ``thinkingConfig``.

Google's extension ``{"google": {"thinking_config": {...}, "safety_settings": [...],
"cached_content": "cachedContents/..."}}`` is read from the top level of the body (what
``extra_body={"google": ...}`` sends) and from ``extra_body.google`` (Google's documented
form); the top level wins per key. ``thinking_budget``/``thinking_level`` cannot be combined with
``reasoning_effort`` (400); ``include_thoughts`` can.
"""

from __future__ import annotations

from typing import Any

from gemini_proxy.errors import InvalidRequest

from .gemini_types import GenerationConfig, ThinkingConfig
from .models import family, tier
from .schema import to_gemini_schema

IGNORED_PARAMS: frozenset[str] = frozenset(
    {
        "audio",
        "logit_bias",
        "metadata",
        "modalities",
        "moderation",
        "prediction",
        "prompt_cache_key",
        "prompt_cache_options",
        "prompt_cache_retention",
        "safety_identifier",
        "service_tier",
        "store",
        "user",
        "verbosity",
    }
)
"""OpenAI request parameters with no Gemini counterpart: accepted and ignored.
Unknown top-level keys are ignored too (SDKs add new ones)."""

REASONING_EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh", "max"})
_BUDGETS = {"minimal": 1024, "low": 1024, "medium": 8192, "high": 24576, "xhigh": 24576, "max": 24576}
_LEVELS = {"none": "MINIMAL", "minimal": "MINIMAL", "low": "LOW", "medium": "MEDIUM", "high": "HIGH",
           "xhigh": "HIGH", "max": "HIGH"}  # fmt: skip
_THINKING_LEVELS = frozenset({"MINIMAL", "LOW", "MEDIUM", "HIGH"})


def _number(body: dict[str, Any], key: str, lo: float, hi: float) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(f"{key} must be a number", param=key)
    if not lo <= value <= hi:
        raise InvalidRequest(f"{key} must be between {lo:g} and {hi:g}", param=key)
    return value


def whole_number(value: object) -> int | None:
    """``value`` as an int if JSON counts it as an integer (``2`` and ``2.0``; not ``2.5``, ``true``
    or ``"2"``), else None. Floats past 2**63 are not taken: they are not exact, and orjson could not
    send them on."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    return None


def _int(body: dict[str, Any], key: str, lo: int) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    number = whole_number(value)
    if number is None:
        raise InvalidRequest(f"{key} must be an integer", param=key)
    if number < lo:
        raise InvalidRequest(f"{key} must be at least {lo}", param=key)
    return number


def _bool(obj: dict[str, Any], key: str, param: str) -> bool | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, bool):
        raise InvalidRequest(f"{key} must be a boolean", param=param)
    return value


# Every body member generation_config reads: a request with none of them (most) skips it all.
_MEMBERS = frozenset({
    "temperature", "top_p", "top_k", "presence_penalty", "frequency_penalty", "seed", "n", "max_completion_tokens",
    "max_tokens", "stop", "logprobs", "top_logprobs", "response_format", "extra_body", "google", "reasoning_effort",
})  # fmt: skip


def generation_config(body: dict[str, Any], model: str) -> tuple[GenerationConfig, dict[str, Any], bool, int]:
    """-> (generationConfig, extra top-level request fields, include_thoughts, n)."""
    if _MEMBERS.isdisjoint(body):
        return {}, {}, False, 1
    cfg: GenerationConfig = {}
    if (v := _number(body, "temperature", 0, 2)) is not None:
        cfg["temperature"] = v
    if (v := _number(body, "top_p", 0, 1)) is not None:
        cfg["topP"] = v
    if (k := _int(body, "top_k", 1)) is not None:  # not OpenAI; sent by some clients, Gemini has it
        cfg["topK"] = k
    if (v := _number(body, "presence_penalty", -2, 2)) is not None:
        cfg["presencePenalty"] = v
    if (v := _number(body, "frequency_penalty", -2, 2)) is not None:
        cfg["frequencyPenalty"] = v
    if (seed := _int(body, "seed", -(2**63))) is not None:
        # Gemini's seed is an int32; OpenAI clients send up to 64 bits. Folding keeps equal seeds equal.
        cfg["seed"] = (seed + 2**31) % 2**32 - 2**31
    n = _int(body, "n", 1)
    if n is not None and n != 1:
        cfg["candidateCount"] = n
    max_tokens = _int(body, "max_completion_tokens", 1)
    if max_tokens is None:
        max_tokens = _int(body, "max_tokens", 1)
    if max_tokens is not None:
        cfg["maxOutputTokens"] = max_tokens
    stop = _stop(body.get("stop"))
    if stop:
        cfg["stopSequences"] = stop
    logprobs = _bool(body, "logprobs", "logprobs")
    top = body.get("top_logprobs")
    if top is not None:
        top = whole_number(top)
        if top is None or not 0 <= top <= 20:
            raise InvalidRequest("top_logprobs must be an integer between 0 and 20", param="top_logprobs")
        if not logprobs:  # OpenAI refuses it too
            raise InvalidRequest("top_logprobs is only allowed when logprobs is true", param="top_logprobs")
        cfg["logprobs"] = top
    if logprobs:
        cfg["responseLogprobs"] = True
    _response_format(body.get("response_format"), cfg)
    extra, thinking = _google(body)
    effort = body.get("reasoning_effort")
    if effort is not None:
        if not isinstance(effort, str) or effort not in REASONING_EFFORTS:
            raise InvalidRequest(
                f"reasoning_effort must be one of {', '.join(sorted(REASONING_EFFORTS))}", param="reasoning_effort"
            )
        if "thinkingBudget" in thinking or "thinkingLevel" in thinking:
            raise InvalidRequest(
                "reasoning_effort and google.thinking_config.thinking_budget/thinking_level cannot be used together",
                param="reasoning_effort",
            )
        thinking.update(effort_thinking(effort, model))
    if thinking:
        cfg["thinkingConfig"] = thinking
    return cfg, extra, thinking.get("includeThoughts", False), 1 if n is None else n


def _stop(stop: object) -> list[str] | None:
    if stop is None:
        return None
    if isinstance(stop, str):
        return [stop] if stop else None
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise InvalidRequest("stop must be a string or an array of strings", param="stop")
    if len(stop) > 4:
        raise InvalidRequest("stop accepts at most 4 sequences", param="stop")
    return [s for s in stop if s] or None


def _response_format(fmt: object, cfg: GenerationConfig) -> None:
    if fmt is None:
        return
    if not isinstance(fmt, dict):
        raise InvalidRequest("response_format must be an object", param="response_format")
    kind = fmt.get("type")
    if kind == "text":
        return
    if kind == "json_object":
        cfg["responseMimeType"] = "application/json"
        return
    if kind != "json_schema":
        raise InvalidRequest("response_format.type must be 'text', 'json_object' or 'json_schema'",
                             param="response_format.type")  # fmt: skip
    spec = fmt.get("json_schema")
    if not isinstance(spec, dict):
        raise InvalidRequest("response_format.json_schema must be an object", param="response_format.json_schema")
    cfg["responseMimeType"] = "application/json"
    schema = spec.get("schema")
    if schema is None:
        return
    which, converted = to_gemini_schema(schema, param="response_format.json_schema.schema")
    if which == "schema":
        cfg["responseSchema"] = converted
    else:
        cfg["responseJsonSchema"] = converted


def effort_thinking(effort: str, model: str) -> ThinkingConfig:
    """``thinkingConfig`` for a reasoning effort on ``model``'s family (the table in the docstring above);
    also used by the Anthropic surface for ``output_config.effort`` and by the Responses surface."""
    fam, t = family(model), tier(model)
    if fam == "gemini-2.5":
        if effort == "none":
            return {"thinkingBudget": 128 if t == "pro" else 0}
        if t == "pro" and effort in ("xhigh", "max"):
            return {"thinkingBudget": 32768}
        return {"thinkingBudget": _BUDGETS[effort]}
    if fam == "gemini-3":
        level = _LEVELS[effort]
        if t == "pro":
            if level == "MINIMAL":
                level = "LOW"
            elif level == "MEDIUM" and model.startswith("gemini-3-pro"):  # 3.0 Pro: low/high only
                level = "HIGH"
        return {"thinkingLevel": level}
    return {}


def _google(body: dict[str, Any]) -> tuple[dict[str, Any], ThinkingConfig]:
    ext: dict[str, Any] = {}
    nested = body.get("extra_body")
    for source, param in ((nested.get("google") if isinstance(nested, dict) else None, "extra_body.google"),
                          (body.get("google"), "google")):  # fmt: skip
        if source is None:
            continue
        if not isinstance(source, dict):
            raise InvalidRequest("google must be an object", param=param)
        ext.update(source)
    extra: dict[str, Any] = {}
    thinking: ThinkingConfig = {}
    if not ext:
        return extra, thinking
    tc = ext.get("thinking_config", ext.get("thinkingConfig"))
    if tc is not None:
        if not isinstance(tc, dict):
            raise InvalidRequest("thinking_config must be an object", param="google.thinking_config")
        budget = tc.get("thinking_budget", tc.get("thinkingBudget"))
        level = tc.get("thinking_level", tc.get("thinkingLevel"))
        include = tc.get("include_thoughts", tc.get("includeThoughts"))
        if budget is not None:
            number = whole_number(budget)
            if number is None or number < -1:
                raise InvalidRequest("thinking_budget must be an integer >= -1",
                                     param="google.thinking_config.thinking_budget")  # fmt: skip
            thinking["thinkingBudget"] = number
        if level is not None:
            if not isinstance(level, str) or level.upper() not in _THINKING_LEVELS:
                raise InvalidRequest("thinking_level must be minimal, low, medium or high",
                                     param="google.thinking_config.thinking_level")  # fmt: skip
            if budget is not None:
                raise InvalidRequest("thinking_budget and thinking_level cannot be used together",
                                     param="google.thinking_config")  # fmt: skip
            thinking["thinkingLevel"] = level.upper()
        if include is not None:
            if not isinstance(include, bool):
                raise InvalidRequest("include_thoughts must be a boolean",
                                     param="google.thinking_config.include_thoughts")  # fmt: skip
            if include:
                thinking["includeThoughts"] = True
    safety = ext.get("safety_settings", ext.get("safetySettings"))
    if safety is not None:
        if not isinstance(safety, list) or not all(
            isinstance(s, dict) and isinstance(s.get("category"), str) and isinstance(s.get("threshold"), str)
            for s in safety
        ):
            raise InvalidRequest("safety_settings must be an array of {category, threshold}",
                                 param="google.safety_settings")  # fmt: skip
        extra["safetySettings"] = [{"category": s["category"], "threshold": s["threshold"]} for s in safety]
    cached = ext.get("cached_content", ext.get("cachedContent"))
    if cached is not None:
        if not isinstance(cached, str) or not cached:
            raise InvalidRequest("cached_content must be a string", param="google.cached_content")
        extra["cachedContent"] = cached
    return extra, thinking

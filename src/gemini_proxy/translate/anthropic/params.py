"""``max_tokens``, sampling, ``stop_sequences``, ``thinking`` and ``output_config`` -> ``generationConfig``.

Only what the client sent is mapped; nothing is invented. ``max_tokens`` is required on
``/v1/messages`` (Anthropic's rule) -> ``maxOutputTokens`` (on both sides it includes thinking).
``temperature`` (0-1), ``top_p`` (0-1), ``top_k`` (>= 1), ``stop_sequences`` (at most 5: Gemini's limit).

Thinking, per Gemini family (``docs/anthropic.md`` has the table):

* ``{"type": "enabled", "budget_tokens": N}`` (N >= 1024): 2.5 -> ``thinkingBudget`` N, capped at
  the model's top (24576; 2.5 Pro 32768); Gemini 3 -> ``thinkingLevel`` of the nearest effort
  (N <= 1024 low, <= 8192 medium, more high), through the OpenAI surface's effort table.
* ``{"type": "adaptive"}`` (and ``between_tools``): ``output_config.effort`` through the effort
  table; without an effort, dynamic thinking (2.5 budget -1, Gemini 3 its default).
* ``{"type": "disabled"}``: the lowest setting (2.5 Flash/Flash-Lite budget 0; 2.5 Pro and Gemini 3
  cannot turn thinking off).
* absent: no thinking config, unless ``output_config.effort`` is given.

Thought summaries are asked for (``includeThoughts``) with enabled/adaptive thinking unless
``display: "omitted"``. Models outside these families get no thinking config.
"""

from __future__ import annotations

from typing import Any

from gemini_proxy.errors import InvalidRequest

from ..gemini_types import GenerationConfig, ThinkingConfig
from ..models import family, tier
from ..params import REASONING_EFFORTS, effort_thinking, whole_number
from ..schema import to_gemini_schema

_EFFORTS = ("low", "medium", "high", "xhigh", "max")
_MAX_STOP = 5


def _number(body: dict[str, Any], key: str, lo: float, hi: float) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(f"{key} must be a number", param=key)
    if not lo <= value <= hi:
        raise InvalidRequest(f"{key} must be between {lo:g} and {hi:g}", param=key)
    return value


def _int(value: object, param: str, lo: int) -> int:
    number = whole_number(value)
    if number is None:
        raise InvalidRequest(f"{param} must be an integer", param=param)
    if number < lo:
        raise InvalidRequest(f"{param} must be at least {lo}", param=param)
    return number


def generation_config(body: dict[str, Any], model: str, *, require_max_tokens: bool) -> tuple[GenerationConfig, bool]:
    """-> (generationConfig, include_thoughts)."""
    cfg: GenerationConfig = {}
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        if require_max_tokens:
            raise InvalidRequest("Field required", param="max_tokens")
    else:
        cfg["maxOutputTokens"] = _int(max_tokens, "max_tokens", 1)
    if (v := _number(body, "temperature", 0, 1)) is not None:
        cfg["temperature"] = v
    if (v := _number(body, "top_p", 0, 1)) is not None:
        cfg["topP"] = v
    if body.get("top_k") is not None:
        cfg["topK"] = _int(body["top_k"], "top_k", 1)
    stop = body.get("stop_sequences")
    if stop is not None:
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise InvalidRequest("stop_sequences must be an array of strings", param="stop_sequences")
        stop = [s for s in stop if s]
        if len(stop) > _MAX_STOP:
            raise InvalidRequest(f"Gemini accepts at most {_MAX_STOP} stop_sequences", param="stop_sequences")
        if stop:
            cfg["stopSequences"] = stop
    effort = _output_config(body.get("output_config"), cfg)
    thinking, include = _thinking(body.get("thinking"), effort, model)
    if thinking:
        cfg["thinkingConfig"] = thinking
    return cfg, include


def _output_config(config: object, cfg: GenerationConfig) -> str | None:
    if config is None:
        return None
    if not isinstance(config, dict):
        raise InvalidRequest("output_config must be an object", param="output_config")
    effort = config.get("effort")
    if effort is not None and (effort not in _EFFORTS or effort not in REASONING_EFFORTS):
        raise InvalidRequest(f"output_config.effort must be one of {', '.join(_EFFORTS)}", param="output_config.effort")
    fmt = config.get("format")
    if fmt is not None:
        if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
            raise InvalidRequest("output_config.format.type must be 'json_schema'", param="output_config.format.type")
        kind, schema = to_gemini_schema(fmt.get("schema"), param="output_config.format.schema")
        cfg["responseMimeType"] = "application/json"
        cfg["responseSchema" if kind == "schema" else "responseJsonSchema"] = schema
    return effort if isinstance(effort, str) else None


def _budget_effort(budget: int) -> str:
    return "low" if budget <= 1024 else "medium" if budget <= 8192 else "high"


def _thinking(thinking: object, effort: str | None, model: str) -> tuple[ThinkingConfig, bool]:
    fam = family(model)
    if thinking is None:
        return (effort_thinking(effort, model) if effort else {}), False
    if not isinstance(thinking, dict):
        raise InvalidRequest("thinking must be an object", param="thinking")
    kind = thinking.get("type")
    display = thinking.get("display")
    if display is not None and display not in ("summarized", "omitted"):
        raise InvalidRequest("thinking.display must be 'summarized' or 'omitted'", param="thinking.display")
    include = display != "omitted" and fam != "other"
    if kind == "disabled":
        return effort_thinking("none", model), False
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if budget is None:
            raise InvalidRequest("Field required", param="thinking.budget_tokens")
        budget = _int(budget, "thinking.budget_tokens", 1024)
        if fam == "gemini-2.5":
            config: ThinkingConfig = {"thinkingBudget": min(budget, 32768 if tier(model) == "pro" else 24576)}
        else:
            config = effort_thinking(_budget_effort(budget), model)
    elif kind in ("adaptive", "between_tools"):
        if effort:
            config = effort_thinking(effort, model)
        else:
            config = {"thinkingBudget": -1} if fam == "gemini-2.5" else {}
    else:
        raise InvalidRequest("thinking.type must be 'enabled', 'disabled' or 'adaptive'", param="thinking.type")
    if include:
        config["includeThoughts"] = True
    return config, include

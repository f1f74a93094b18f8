"""``to_gemini_request``: one ``POST /v1/responses`` body -> ``ResponsesCall``.

Used: ``model``, ``input``, ``instructions`` (first in ``systemInstruction``; not carried over
to a follow-up, as OpenAI), ``tools``, ``tool_choice``, ``parallel_tool_calls``, ``text.format``,
``reasoning.effort`` / ``.summary``, ``include`` (``reasoning.encrypted_content``),
``max_output_tokens``, ``temperature``, ``top_p``, ``stream``, ``store``, ``previous_response_id``
(the route passes the stored ``Conversation``). Accepted, echoed and not used: ``metadata``,
``user``, ``safety_identifier``, ``prompt_cache_key``, ``prompt_cache_retention``,
``client_metadata``, ``service_tier`` (always echoed as ``default``), ``truncation`` (Gemini
never truncates: a too-long input is Gemini's 400), ``text.verbosity``, ``top_logprobs``,
``max_tool_calls``, ``stream_options``, the other ``include`` values. A 400: ``background: true``,
``conversation``, ``prompt`` (no Conversations or stored prompts here). Unknown keys are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gemini_proxy.errors import InvalidRequest, shown

from ..gemini_types import GenerationConfig, Part, ThinkingConfig
from ..media import is_http_url
from ..models import family, resolve_model
from ..params import REASONING_EFFORTS, effort_thinking, whole_number
from ..schema import to_gemini_schema
from ..tools import SchemaCache
from .call import Conversation, ResponsesCall
from .items import to_contents
from .tools import to_tools

INCLUDABLE = frozenset({
    "file_search_call.results", "web_search_call.results", "web_search_call.action.sources",
    "message.input_image.image_url", "computer_call_output.output.image_url", "code_interpreter_call.outputs",
    "reasoning.encrypted_content", "message.output_text.logprobs",
})  # fmt: skip
_SUMMARIES = ("auto", "concise", "detailed")
_UNSUPPORTED = {
    "conversation": "conversation is not supported: use previous_response_id",
    "prompt": "stored prompts are not supported: send instructions and input",
}


def to_gemini_request(
    body: object,
    *,
    aliases: Mapping[str, str],
    default_model: str | None,
    fetched_media: Mapping[str, tuple[str, str]],
    previous: Conversation | None = None,
    schema_cache: SchemaCache | None = None,
) -> ResponsesCall:
    """Raises ``InvalidRequest(message, param=...)`` on bad input.

    ``previous``: the stored conversation of ``previous_response_id`` (the route looks it up and
    answers 404 when there is none). ``fetched_media``: url -> (mime type, base64 data) for every
    URL ``collect_media_urls`` listed.
    """
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object", param=None)
    requested = body.get("model")
    model = resolve_model(requested, aliases=aliases, default=default_model)
    stream = _bool(body, "stream", False)
    store = _bool(body, "store", True)
    parallel = _bool(body, "parallel_tool_calls", True)
    if _bool(body, "background", False):
        raise InvalidRequest("background responses are not supported", param="background")
    for key, message in _UNSUPPORTED.items():
        if body.get(key) is not None:
            raise InvalidRequest(message, param=key)
    previous_id = _string(body, "previous_response_id")
    instructions = _string(body, "instructions")
    include = _include(body.get("include"))
    metadata = _metadata(body.get("metadata"))
    for key in ("user", "safety_identifier", "prompt_cache_key", "service_tier"):
        _string(body, key)
    truncation = body.get("truncation")
    if truncation not in (None, "auto", "disabled"):
        raise InvalidRequest("truncation must be 'auto' or 'disabled'", param="truncation")

    input_ = body.get("input")
    if input_ is None and previous is None:
        raise InvalidRequest("input is required", param="input")
    conversation = to_contents(input_ if input_ is not None else [], model=model, previous=previous,
                               fetched_media=fetched_media)  # fmt: skip
    tools = to_tools(body.get("tools"), body.get("tool_choice"), schema_cache)
    config, reasoning, include_thoughts = _generation(body, model)
    text = _text(body.get("text"), config)

    system: list[Part] = [{"text": instructions}] if instructions else []
    system += conversation["system"]
    contents = conversation["contents"]
    if not contents:
        if not system:
            raise InvalidRequest("input must contain at least one non-empty item", param="input")
        contents, system = [{"role": "user", "parts": system}], []
    gemini: dict[str, Any] = {"contents": contents}
    if system:
        gemini["systemInstruction"] = {"parts": system}
    if tools.tools is not None:
        gemini["tools"] = tools.tools
    if tools.tool_config is not None:
        gemini["toolConfig"] = tools.tool_config
    if config:
        gemini["generationConfig"] = config
    echo = {
        "instructions": instructions,
        "tools": tools.echo,
        "tool_choice": body.get("tool_choice") if body.get("tool_choice") is not None else "auto",
        "temperature": config.get("temperature", 1.0),
        "top_p": config.get("topP", 1.0),
        "max_output_tokens": config.get("maxOutputTokens"),
        "max_tool_calls": whole_number(body.get("max_tool_calls")),
        "parallel_tool_calls": parallel,
        "text": text,
        "reasoning": reasoning,
        "store": store,
        "metadata": metadata,
        "previous_response_id": previous_id,
        "truncation": truncation or "disabled",
        "service_tier": "default",
        "user": body.get("user"),
        "safety_identifier": body.get("safety_identifier"),
        "prompt_cache_key": body.get("prompt_cache_key"),
        "top_logprobs": whole_number(body.get("top_logprobs")) or 0,
        "background": False,
    }
    return ResponsesCall(
        model=model,
        requested_model=requested if isinstance(requested, str) and requested else model,
        gemini_body=gemini,
        stream=stream,
        store=store,
        include_thoughts=include_thoughts,
        include_encrypted="reasoning.encrypted_content" in include,
        parallel_tool_calls=parallel,
        names=tools.names,
        echo=echo,
        conversation=conversation,
        previous_response_id=previous_id,
        web_search=tools.web_search,
        include_sources="web_search_call.action.sources" in include,
    )


def _bool(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidRequest(f"{key} must be a boolean", param=key)
    return value


def _string(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidRequest(f"{key} must be a string", param=key)
    return value


def _include(value: object) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list):
        raise InvalidRequest("include must be an array of strings", param="include")
    for k, entry in enumerate(value):
        if not isinstance(entry, str) or entry not in INCLUDABLE:
            raise InvalidRequest(f"unknown include value {shown(entry)}", param=f"include[{k}]")
    return frozenset(value)


def _metadata(value: object) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or len(value) > 16:
        raise InvalidRequest("metadata must be an object of at most 16 string values", param="metadata")
    for key, item in value.items():
        if len(key) > 64 or not isinstance(item, str) or len(item) > 512:
            raise InvalidRequest("metadata keys are strings of at most 64 characters, values of at most 512",
                                 param=f"metadata.{key[:64]}")  # fmt: skip
    return value


def _number(body: dict[str, Any], key: str, hi: float) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= hi:
        raise InvalidRequest(f"{key} must be a number between 0 and {hi:g}", param=key)
    return value


def _generation(body: dict[str, Any], model: str) -> tuple[GenerationConfig, dict[str, Any], bool]:
    """-> (generationConfig without the response format, echoed ``reasoning``, include_thoughts)."""
    cfg: GenerationConfig = {}
    if (v := _number(body, "temperature", 2)) is not None:
        cfg["temperature"] = v
    if (v := _number(body, "top_p", 1)) is not None:
        cfg["topP"] = v
    max_tokens = body.get("max_output_tokens")
    if max_tokens is not None:
        number = whole_number(max_tokens)
        if number is None or number < 1:
            raise InvalidRequest("max_output_tokens must be a positive integer", param="max_output_tokens")
        cfg["maxOutputTokens"] = number
    reasoning = body.get("reasoning")
    if reasoning is None:
        return cfg, {"effort": None, "summary": None}, False
    if not isinstance(reasoning, dict):
        raise InvalidRequest("reasoning must be an object", param="reasoning")
    effort = reasoning.get("effort")
    thinking: ThinkingConfig = {}
    if effort is not None:
        if not isinstance(effort, str) or effort not in REASONING_EFFORTS:
            raise InvalidRequest(f"reasoning.effort must be one of {', '.join(sorted(REASONING_EFFORTS))}",
                                 param="reasoning.effort")  # fmt: skip
        thinking.update(effort_thinking(effort, model))
    key = "summary" if reasoning.get("summary") is not None else "generate_summary"
    summary = reasoning.get(key)
    if summary is not None and summary not in _SUMMARIES:
        raise InvalidRequest(f"reasoning.{key} must be 'auto', 'concise' or 'detailed'", param=f"reasoning.{key}")
    include_thoughts = summary is not None and family(model) != "other"
    if include_thoughts:
        thinking["includeThoughts"] = True
    if thinking:
        cfg["thinkingConfig"] = thinking
    return cfg, {"effort": effort, "summary": summary}, include_thoughts


def _text(text: object, cfg: GenerationConfig) -> dict[str, Any]:
    """``text.format`` -> response MIME type / schema; returns the echoed ``text``."""
    if text is None:
        return {"format": {"type": "text"}, "verbosity": "medium"}
    if not isinstance(text, dict):
        raise InvalidRequest("text must be an object", param="text")
    verbosity = text.get("verbosity")
    if verbosity not in (None, "low", "medium", "high"):
        raise InvalidRequest("text.verbosity must be 'low', 'medium' or 'high'", param="text.verbosity")
    fmt = text.get("format")
    echoed: dict[str, Any] = {"type": "text"}
    if fmt is not None:
        kind = fmt.get("type") if isinstance(fmt, dict) else None
        if not isinstance(fmt, dict) or kind not in ("text", "json_object", "json_schema"):
            raise InvalidRequest("text.format.type must be 'text', 'json_object' or 'json_schema'",
                                 param="text.format.type")  # fmt: skip
        if kind == "json_object":
            cfg["responseMimeType"] = "application/json"
            echoed = {"type": "json_object"}
        elif kind == "json_schema":
            echoed = _json_schema(fmt, cfg)
    return {"format": echoed, "verbosity": verbosity or "medium"}


def _json_schema(fmt: dict[str, Any], cfg: GenerationConfig) -> dict[str, Any]:
    name, schema, strict = fmt.get("name"), fmt.get("schema"), fmt.get("strict")
    if not isinstance(name, str) or not name:
        raise InvalidRequest("text.format.name must be a non-empty string", param="text.format.name")
    if not isinstance(schema, dict):
        raise InvalidRequest("text.format.schema must be an object", param="text.format.schema")
    if strict is not None and not isinstance(strict, bool):
        raise InvalidRequest("text.format.strict must be a boolean", param="text.format.strict")
    cfg["responseMimeType"] = "application/json"
    which, converted = to_gemini_schema(schema, param="text.format.schema")
    if which == "schema":
        cfg["responseSchema"] = converted
    else:
        cfg["responseJsonSchema"] = converted
    echoed: dict[str, Any] = {"type": "json_schema", "name": name, "schema": schema, "strict": strict}
    if isinstance(fmt.get("description"), str):
        echoed["description"] = fmt["description"]
    return echoed


def collect_media_urls(body: object) -> list[tuple[str, str]]:
    """``(url, param)`` for each http(s) ``image_url``/``file_url`` the route must fetch first.
    Never raises; order of first appearance, no duplicates."""
    urls: dict[str, str] = {}
    items = body.get("input") if isinstance(body, dict) else None
    if not isinstance(items, list):
        return []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        key = "output" if item.get("type") == "function_call_output" else "content"
        parts = item.get(key)
        if not isinstance(parts, list):
            continue
        for j, part in enumerate(parts):
            if not isinstance(part, dict):
                continue
            for field in ("image_url", "file_url"):
                url = part.get(field)
                if isinstance(url, str) and is_http_url(url):
                    urls.setdefault(url, f"input[{i}].{key}[{j}].{field}")
    return list(urls.items())


def count_tokens_request(call: ResponsesCall) -> dict[str, Any]:
    """The ``countTokens`` body for ``POST /v1/responses/input_tokens`` (same translation as a
    create; its fields are a subset). Counts contents, system instruction and tools."""
    inner: dict[str, Any] = {"model": f"models/{call.model}", "contents": call.gemini_body["contents"]}
    for key in ("systemInstruction", "tools"):
        if key in call.gemini_body:
            inner[key] = call.gemini_body[key]
    return {"generateContentRequest": inner}


def input_tokens_response(counted: object) -> dict[str, Any]:
    """Gemini's ``countTokens`` answer -> ``{"object": "response.input_tokens", "input_tokens": N}``."""
    total = counted.get("totalTokens") if isinstance(counted, dict) else None
    return {"object": "response.input_tokens", "input_tokens": total if isinstance(total, int) else 0}

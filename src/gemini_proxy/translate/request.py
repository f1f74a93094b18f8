"""``to_gemini_request``: one OpenAI Chat Completions body -> ``ChatCall`` (Gemini body + facts)."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from gemini_proxy.errors import InvalidRequest

from .call import ChatCall
from .messages import to_contents
from .models import resolve_model
from .params import generation_config
from .tools import to_tools


def to_gemini_request(
    body: object,
    *,
    aliases: Mapping[str, str],
    default_model: str | None,
    signatures: Mapping[str, str],
    fetched_media: Mapping[str, tuple[str, str]],
    schema_cache: MutableMapping[bytes, tuple[str, dict[str, Any]]] | None = None,
) -> ChatCall:
    """Translate a Chat Completions request. Raises ``InvalidRequest(message, param=...)`` on bad input.

    ``signatures``: tool_call id -> thought signature, for history calls that carry none
    (see ``missing_signature_call_ids``). ``fetched_media``: url -> (mime type, base64 data) for
    every URL ``collect_media_urls`` listed.
    """
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object", param=None)
    requested = body.get("model")
    model = resolve_model(requested, aliases=aliases, default=default_model)
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise InvalidRequest("stream must be a boolean", param="stream")
    include_usage = _include_usage(body.get("stream_options"))
    parallel = body.get("parallel_tool_calls")
    if parallel is not None and not isinstance(parallel, bool):
        raise InvalidRequest("parallel_tool_calls must be a boolean", param="parallel_tool_calls")

    contents, system = to_contents(
        body.get("messages"), model=model, signatures=signatures, fetched_media=fetched_media
    )
    tools = to_tools(body, schema_cache)
    config, extra, include_thoughts, n = generation_config(body, model)

    gemini: dict[str, Any] = {"contents": contents}
    if system is not None:
        gemini["systemInstruction"] = system
    search = _web_search(body.get("web_search_options"))
    if tools.tools is not None or search:
        gemini["tools"] = (tools.tools or []) + ([{"googleSearch": {}}] if search else [])
    if tools.tool_config is not None:
        gemini["toolConfig"] = tools.tool_config
    if config:
        gemini["generationConfig"] = config
    gemini.update(extra)
    return ChatCall(
        model=model,
        requested_model=requested if isinstance(requested, str) and requested else model,
        gemini_body=gemini,
        stream=bool(stream),
        include_usage=include_usage,
        include_thoughts=include_thoughts,
        n=n,
        parallel_tool_calls=parallel is not False,
        legacy_functions=tools.legacy,
        logprobs=body.get("logprobs") is True,
        web_search=search,
    )


def _web_search(options: object) -> bool:
    """``web_search_options`` (any object: its ``search_context_size`` and ``user_location`` have no
    Gemini counterpart) turns on Google Search grounding."""
    if options is None:
        return False
    if not isinstance(options, dict):
        raise InvalidRequest("web_search_options must be an object", param="web_search_options")
    return True


def _include_usage(options: object) -> bool:
    if options is None:
        return False
    if not isinstance(options, dict):
        raise InvalidRequest("stream_options must be an object", param="stream_options")
    value = options.get("include_usage")
    if value is not None and not isinstance(value, bool):
        raise InvalidRequest("stream_options.include_usage must be a boolean", param="stream_options.include_usage")
    return value is True

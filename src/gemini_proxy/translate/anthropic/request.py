"""Anthropic Messages / count_tokens bodies -> Gemini ``generateContent`` / ``countTokens`` bodies.

Accepted and ignored (no Gemini counterpart): ``cache_control`` anywhere, ``metadata``,
``context_management``, ``container``, ``diagnostics``, ``inference_geo``, ``service_tier``,
``speed``, ``user_profile_id``, ``workspace_id`` and any top-level field not known here.
``mcp_servers`` (the MCP connector) is a 400: Gemini cannot call MCP servers.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from gemini_proxy.errors import InvalidRequest

from .blocks import Fetched
from .content import to_contents
from .models import resolve_anthropic_model
from .params import generation_config
from .tools import to_tools
from .types import CountTokensCall, MessagesCall

IGNORED_FIELDS: frozenset[str] = frozenset({
    "cache_control", "metadata", "context_management", "container", "diagnostics", "inference_geo",
    "service_tier", "speed", "user_profile_id", "workspace_id",
})  # fmt: skip
"""Anthropic request fields with no Gemini counterpart: accepted and ignored."""

SchemaCache = MutableMapping[bytes, tuple[str, dict[str, Any]]]


def _build(
    body: object,
    *,
    claude_models: Mapping[str, str],
    aliases: Mapping[str, str],
    signatures: Mapping[str, str],
    fetched_media: Fetched,
    schema_cache: SchemaCache | None,
    count: bool,
) -> tuple[str, dict[str, Any], MessagesCall]:
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object", param=None)
    requested = body.get("model")
    model = resolve_anthropic_model(requested, claude_models=claude_models, aliases=aliases)
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise InvalidRequest("stream must be a boolean", param="stream")
    if body.get("mcp_servers"):
        raise InvalidRequest("mcp_servers (the MCP connector) is not supported by Gemini", param="mcp_servers")
    conv = to_contents(body.get("messages"), body.get("system"), model=model, signatures=signatures,
                       fetched_media=fetched_media)  # fmt: skip
    tools = to_tools(body, references=conv.references, used=conv.used_tools, cache=schema_cache)
    config, include_thoughts = generation_config(body, model, require_max_tokens=not count)
    gemini: dict[str, Any] = {"contents": conv.contents}
    if conv.system:
        gemini["systemInstruction"] = {"parts": conv.system}
    if tools.tools is not None:
        gemini["tools"] = tools.tools
    if tools.tool_config is not None:
        gemini["toolConfig"] = tools.tool_config
    if config and not count:
        gemini["generationConfig"] = config
    call = MessagesCall(
        model=model,
        requested_model=requested if isinstance(requested, str) else model,
        gemini_body=gemini,
        stream=stream is True,
        include_thoughts=include_thoughts,
        parallel_tool_use=tools.parallel,
        server_tools=tools.server,
    )
    return model, gemini, call


def to_gemini_request(
    body: object,
    *,
    claude_models: Mapping[str, str],
    aliases: Mapping[str, str],
    signatures: Mapping[str, str],
    fetched_media: Fetched,
    schema_cache: SchemaCache | None = None,
) -> MessagesCall:
    """Translate a ``POST /v1/messages`` body. Raises ``InvalidRequest`` (400, ``param`` names the
    field) or ``NotFound`` (an unmapped Claude model).

    ``signatures``: tool_use id -> thought signature for the ids ``missing_signature_tool_ids``
    listed; ``fetched_media``: url -> (mime type, base64) for every URL ``collect_media_urls`` listed.
    """
    return _build(body, claude_models=claude_models, aliases=aliases, signatures=signatures,
                  fetched_media=fetched_media, schema_cache=schema_cache, count=False)[2]  # fmt: skip


def to_count_tokens_request(
    body: object,
    *,
    claude_models: Mapping[str, str],
    aliases: Mapping[str, str],
    signatures: Mapping[str, str],
    fetched_media: Fetched,
    schema_cache: SchemaCache | None = None,
) -> CountTokensCall:
    """Translate a ``POST /v1/messages/count_tokens`` body (same rules, ``max_tokens`` not needed)
    into Gemini's ``countTokens`` body, which counts system instruction and tools too."""
    model, gemini, _ = _build(body, claude_models=claude_models, aliases=aliases, signatures=signatures,
                              fetched_media=fetched_media, schema_cache=schema_cache, count=True)  # fmt: skip
    return CountTokensCall(model=model, gemini_body={"generateContentRequest": {"model": f"models/{model}", **gemini}})


def count_tokens_response(resp: object) -> dict[str, int]:
    """Gemini's ``countTokens`` answer -> ``{"input_tokens": totalTokens}`` (exact, never estimated)."""
    total = resp.get("totalTokens") if isinstance(resp, dict) else None
    return {"input_tokens": total if isinstance(total, int) and not isinstance(total, bool) else 0}

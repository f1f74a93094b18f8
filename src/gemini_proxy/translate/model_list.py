"""Gemini's model list -> OpenAI's ``/v1/models`` shape. Pure functions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gemini_proxy.errors import NotFound


def model_id(gemini_model: Mapping[str, Any]) -> str:
    return str(gemini_model.get("name", "")).removeprefix("models/")


def is_served(gemini_model: Mapping[str, Any]) -> bool:
    """Chat models (generateContent) and embedding models (embedContent) are listed."""
    methods = gemini_model.get("supportedGenerationMethods") or []
    return "generateContent" in methods or "embedContent" in methods


def to_openai_model(gemini_model: Mapping[str, Any], *, created: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": model_id(gemini_model), "object": "model", "created": created, "owned_by": "google"}
    for source, target in (
        ("displayName", "display_name"),
        ("inputTokenLimit", "context_window"),
        ("outputTokenLimit", "max_output_tokens"),
    ):
        if source in gemini_model:
            entry[target] = gemini_model[source]
    return entry


def to_openai_model_list(
    gemini_models: Sequence[Mapping[str, Any]], *, aliases: Mapping[str, str], created: int
) -> dict[str, Any]:
    data = [to_openai_model(m, created=created) for m in gemini_models if is_served(m)]
    known = {entry["id"] for entry in data}
    for alias, target in sorted(aliases.items()):
        if alias not in known:
            data.append(
                {"id": alias, "object": "model", "created": created, "owned_by": "gemini-proxy", "root": target}
            )
    return {"object": "list", "data": data}


def find_model(listing: Mapping[str, Any], wanted: str) -> dict[str, Any]:
    bare = wanted.removeprefix("models/").removeprefix("google/")
    for entry in listing["data"]:
        if entry["id"] in (wanted, bare):
            return dict(entry)
    raise NotFound(f"The model `{wanted}` does not exist or you do not have access to it.", code="model_not_found")

"""A JSON Schema written in the prompt, for JSON answers asked without a schema (docs/simulator.md).

Clients that describe the wanted JSON in the prompt and ask for ``responseMimeType:
application/json`` without ``responseSchema`` (OpenAI's ``json_object``: pydantic-ai's prompted
output, instructor's JSON modes, LangChain's json_mode) get an instance of that schema. The texts
searched, in this order: the last user content, the system instruction, the earlier user contents
(latest first). In each, first the fenced blocks (```json or a bare ```), then the JSON objects
written inline; the first object that is a schema wins. A schema is a JSON object with
``"properties"`` (an object) or ``"type": "object"``, or a ``$ref`` into its ``$defs``; a wrapper
like ``{"name": ..., "schema": {...}}`` (OpenAI's json_schema shape) gives its ``schema``.

Bounded: at most ``MAX_TEXT`` characters of prompt are searched and at most ``MAX_ATTEMPTS`` inline
objects tried (a prompt full of ``{`` costs little), so what a client sends cannot make this slow.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

MAX_TEXT = 256 * 1024  # characters of prompt text searched, in all
MAX_ATTEMPTS = 64  # inline '{' positions tried, in all
_FENCE = re.compile(r"```(?:json|JSON|jsonschema)?[ \t]*\r?\n(.*?)```", re.S)
_DECODER = json.JSONDecoder()
_WRAPPERS = ("schema", "json_schema", "jsonSchema")


def is_schema(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    if isinstance(value.get("properties"), dict) or value.get("type") == "object":
        return True
    return isinstance(value.get("$ref"), str) and isinstance(value.get("$defs") or value.get("definitions"), dict)


def _schema_of(value: Any) -> dict[str, Any] | None:
    if is_schema(value):
        return dict(value)
    if isinstance(value, dict):
        for key in _WRAPPERS:
            if is_schema(value.get(key)):
                return dict(value[key])
    return None


def _texts(system: dict[str, Any] | None, contents: list[dict[str, Any]]) -> Iterator[str]:
    users = [c for c in contents if c.get("role", "user") != "model"]

    def text(content: dict[str, Any] | None) -> str:
        parts = (content or {}).get("parts") or []
        return "\n".join(p["text"] for p in parts if isinstance(p.get("text"), str) and not p.get("thought"))

    if users:
        yield text(users[-1])
    yield text(system)
    for content in reversed(users[:-1]):
        yield text(content)


def find(system: dict[str, Any] | None, contents: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first JSON Schema written in the prompt (see the module docstring), or None."""
    budget, attempts = MAX_TEXT, MAX_ATTEMPTS
    for text in _texts(system, contents):
        if budget <= 0:
            return None
        text = text[:budget]
        budget -= len(text)
        if "{" not in text:
            continue
        for block in _FENCE.finditer(text):
            try:
                found = _schema_of(json.loads(block.group(1)))
            except (ValueError, RecursionError):
                continue
            if found is not None:
                return found
        at = text.find("{")
        while at != -1 and attempts > 0:
            attempts -= 1
            try:
                value, end = _DECODER.raw_decode(text, at)
            except (ValueError, RecursionError):
                at = text.find("{", at + 1)
                continue
            found = _schema_of(value)
            if found is not None:
                return found
            at = text.find("{", end)
    return None

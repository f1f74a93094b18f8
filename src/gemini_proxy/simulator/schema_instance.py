"""Deterministic instances of a schema (JSON Schema, or Google's OpenAPI-subset Schema).

Rules: ``const`` → it; ``enum`` → its first value; objects get every property (declaration
order) and honour ``minProperties``; strings are ``"<name> value"`` (``format`` date/date-time/
email/uri/uuid get a fixed valid example, lengths honoured; ``pattern`` is not); integers are
``minimum`` (or ``exclusiveMinimum + 1``) else 1, clamped to ``maximum``; numbers likewise with
1.5; booleans ``true``; arrays hold ``max(minItems, 1)`` items (capped by ``maxItems``);
``anyOf``/``oneOf`` take the first non-null branch; ``allOf`` merges; ``$ref`` resolves
``#/$defs/...`` and ``#/definitions/...`` (a ref that does not resolve means ``{}``, anything).
Malformed keywords (``minItems: "x"``) are ignored; arrays, ``minProperties`` and strings are
capped at 1000; recursion stops at depth 64 (null); an instance over 100,000 values or
1,000,000 string characters raises SchemaTooComplex (a ValueError: the app answers Google's
generic 400).
"""

from __future__ import annotations

import math
from typing import Any

_FORMATS = {
    "date": "2024-01-01",
    "date-time": "2024-01-01T00:00:00Z",
    "time": "00:00:00",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
}
_MAX_DEPTH = 8  # below this, objects keep only required properties and arrays only minItems items
_HARD_DEPTH = 64  # never recurse deeper (self-referencing allOf, absurd nesting): the value is null
MAX_ITEMS = 1000  # arrays (minItems) and minProperties are capped here
MAX_STRING = 1000  # strings (minLength) are capped here
MAX_NODES = 100_000  # a bigger instance (nested minItems…) → SchemaTooComplex, Google's generic 400
MAX_CHARS = 1_000_000  # total string characters in one instance, likewise


def gemini_to_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Google's Schema (normalised camelCase, upper-case types) → an equivalent JSON Schema."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type":
            out["type"] = str(value).lower()
        elif key in ("items",):
            out[key] = gemini_to_json_schema(value)
        elif key == "properties":
            out[key] = {k: gemini_to_json_schema(v) for k, v in value.items()}
        elif key == "anyOf":
            out[key] = [gemini_to_json_schema(v) for v in value]
        elif key in ("minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties"):
            out[key] = int(value)
        elif key in ("nullable", "propertyOrdering", "example"):
            continue
        else:
            out[key] = value
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def _int(value: Any, default: int) -> int:
    """``value`` as an int (a user schema may hold ``"x"`` or ``1e300``), else ``default``."""
    if isinstance(value, bool):
        return default
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return default


def _float(value: Any, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if math.isfinite(number) else default


class SchemaTooComplex(ValueError):
    """The instance would exceed MAX_NODES values (answered as Google's generic 400)."""


class _Gen:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.nodes = 0
        self.chars = 0

    def resolve(self, ref: Any) -> Any:
        """The schema a local ``$ref`` points at; ``{}`` (anything) when it does not resolve."""
        if not isinstance(ref, str) or not ref.startswith("#"):
            return {}
        node: Any = self.root
        for piece in ref[1:].lstrip("/").split("/"):
            if not piece:
                continue
            piece = piece.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and piece in node:
                node = node[piece]
            elif isinstance(node, list) and piece.isdigit() and int(piece) < len(node):
                node = node[int(piece)]
            else:
                return {}
        return node if isinstance(node, dict | bool) else {}

    def make(self, schema: Any, name: str, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise SchemaTooComplex("schema instance too large")
        if depth > _HARD_DEPTH:  # self-referencing allOf/anyOf chains, absurd nesting
            return None
        if not isinstance(schema, dict):
            return None if schema is False else f"{name} value"
        if "$ref" in schema:
            merged = {**_as_dict(self.resolve(schema["$ref"])), **{k: v for k, v in schema.items() if k != "$ref"}}
            return self.make(merged, name, depth + 1) if depth < _MAX_DEPTH else None
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return schema["enum"][0]
        if isinstance(schema.get("allOf"), list):
            merged = {k: v for k, v in schema.items() if k != "allOf"}
            for sub in schema["allOf"]:
                sub = self.resolve(sub["$ref"]) if isinstance(sub, dict) and "$ref" in sub else sub
                for k, v in _as_dict(sub).items():
                    if k == "properties" and isinstance(v, dict):
                        merged["properties"] = {**_as_dict(merged.get("properties")), **v}
                    elif k == "required" and isinstance(v, list):
                        merged["required"] = [*_as_list(merged.get("required")), *v]
                    else:
                        merged.setdefault(k, v)
            return self.make(merged, name, depth + 1)
        for key in ("anyOf", "oneOf"):
            branches = schema.get(key)
            if isinstance(branches, list) and branches:
                usable = [b for b in branches if not (isinstance(b, dict) and b.get("type") == "null")]
                return self.make((usable or branches)[0], name, depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None:
            kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
        return self.typed(str(kind).lower(), schema, name, depth)

    def typed(self, kind: str, schema: dict[str, Any], name: str, depth: int) -> Any:
        if kind == "object":
            props = _as_dict(schema.get("properties"))
            if depth >= _MAX_DEPTH:
                required = _as_list(schema.get("required"))
                props = {k: v for k, v in props.items() if k in required}
            out = {str(k): self.make(v, str(k), depth + 1) for k, v in props.items()}
            wanted = min(_int(schema.get("minProperties"), 0), MAX_ITEMS)
            i = 0
            while len(out) < wanted:
                out[f"extra_{i}"] = "extra value"
                i += 1
            return out
        if kind == "array":
            low = _int(schema.get("minItems"), 0)
            n = max(low, 1)
            if "maxItems" in schema:
                n = min(n, _int(schema["maxItems"], n))
            if depth >= _MAX_DEPTH:
                n = low
            n = max(0, min(n, MAX_ITEMS))
            return [self.make(schema.get("items", {}), name, depth + 1) for _ in range(n)]
        if kind in ("integer", "number"):
            return self.number(kind, schema)
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        return self.string(schema, name)

    @staticmethod
    def number(kind: str, schema: dict[str, Any]) -> int | float:
        base = 1.0 if kind == "integer" else 1.5
        if "minimum" in schema:
            base = _float(schema["minimum"], base)
        elif "exclusiveMinimum" in schema and not isinstance(schema["exclusiveMinimum"], bool):
            base = _float(schema["exclusiveMinimum"], base - 1) + 1
        if "maximum" in schema:
            base = min(base, _float(schema["maximum"], base))
        if "exclusiveMaximum" in schema and not isinstance(schema["exclusiveMaximum"], bool):
            base = min(base, _float(schema["exclusiveMaximum"], base + 1) - 1)
        if kind == "integer":
            return int(base)
        return base

    def string(self, schema: dict[str, Any], name: str) -> str:
        text = _FORMATS.get(str(schema.get("format", "")), f"{name} value")
        min_len = min(_int(schema.get("minLength"), 0), MAX_STRING)
        if len(text) < min_len:
            text = text + "x" * (min_len - len(text))
        if "maxLength" in schema:
            text = text[: max(0, _int(schema["maxLength"], len(text)))]
        text = text[:MAX_STRING]
        self.chars += len(text)
        if self.chars > MAX_CHARS:
            raise SchemaTooComplex("schema instance too large")
        return text


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def instance(schema: dict[str, Any], name: str = "value") -> Any:
    """A value valid against the JSON Schema ``schema`` (see module docstring for the rules)."""
    return _Gen(schema).make(schema, name, 0)

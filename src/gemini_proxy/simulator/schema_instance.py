"""Deterministic instances of a schema (JSON Schema, or Google's OpenAPI-subset Schema).

Rules: ``const`` → it; ``enum`` → its first value; objects get every property (declaration
order) and honour ``minProperties``; strings are ``"<name> value"`` (``format`` date/date-time/
email/uri/uuid get a fixed valid example, lengths honoured; ``pattern`` is not); integers are
``minimum`` (or ``exclusiveMinimum + 1``) else 1, clamped to ``maximum``; numbers likewise with
1.5; booleans ``true``; arrays hold ``max(minItems, 1)`` items (capped by ``maxItems``);
``anyOf``/``oneOf`` take the first non-null branch; ``allOf`` merges; ``$ref`` resolves
``#/$defs/...`` and ``#/definitions/...``.
"""

from __future__ import annotations

from typing import Any

_FORMATS = {
    "date": "2024-01-01",
    "date-time": "2024-01-01T00:00:00Z",
    "time": "00:00:00",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
}
_MAX_DEPTH = 8


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


class _Gen:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root

    def resolve(self, ref: str) -> dict[str, Any]:
        node: Any = self.root
        for piece in ref.lstrip("#/").split("/"):
            if piece:
                node = node[piece.replace("~1", "/").replace("~0", "~")]
        return node if isinstance(node, dict) else {}

    def make(self, schema: Any, name: str, depth: int) -> Any:
        if not isinstance(schema, dict):
            return None if schema is False else f"{name} value"
        if "$ref" in schema:
            merged = {**self.resolve(schema["$ref"]), **{k: v for k, v in schema.items() if k != "$ref"}}
            return self.make(merged, name, depth + 1) if depth < _MAX_DEPTH else None
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][0]
        if "allOf" in schema:
            merged = {k: v for k, v in schema.items() if k != "allOf"}
            for sub in schema["allOf"]:
                sub = self.resolve(sub["$ref"]) if isinstance(sub, dict) and "$ref" in sub else sub
                for k, v in (sub or {}).items():
                    if k == "properties":
                        merged["properties"] = {**merged.get("properties", {}), **v}
                    elif k == "required":
                        merged["required"] = [*merged.get("required", []), *v]
                    else:
                        merged.setdefault(k, v)
            return self.make(merged, name, depth + 1)
        for key in ("anyOf", "oneOf"):
            if schema.get(key):
                branches = [b for b in schema[key] if not (isinstance(b, dict) and b.get("type") == "null")]
                return self.make((branches or schema[key])[0], name, depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None:
            kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
        return self.typed(str(kind).lower(), schema, name, depth)

    def typed(self, kind: str, schema: dict[str, Any], name: str, depth: int) -> Any:
        if kind == "object":
            props: dict[str, Any] = schema.get("properties") or {}
            if depth >= _MAX_DEPTH:
                props = {k: v for k, v in props.items() if k in (schema.get("required") or ())}
            out = {k: self.make(v, k, depth + 1) for k, v in props.items()}
            i = 0
            while len(out) < int(schema.get("minProperties", 0)):
                out[f"extra_{i}"] = "extra value"
                i += 1
            return out
        if kind == "array":
            n = max(int(schema.get("minItems", 1)), 1)
            if "maxItems" in schema:
                n = min(n, int(schema["maxItems"]))
            if depth >= _MAX_DEPTH:
                n = int(schema.get("minItems", 0))
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
        base: float = 1 if kind == "integer" else 1.5
        if "minimum" in schema:
            base = float(schema["minimum"])
        elif "exclusiveMinimum" in schema and not isinstance(schema["exclusiveMinimum"], bool):
            base = float(schema["exclusiveMinimum"]) + 1
        if "maximum" in schema:
            base = min(base, float(schema["maximum"]))
        if "exclusiveMaximum" in schema and not isinstance(schema["exclusiveMaximum"], bool):
            base = min(base, float(schema["exclusiveMaximum"]) - 1)
        if kind == "integer":
            return int(base)
        return base

    @staticmethod
    def string(schema: dict[str, Any], name: str) -> str:
        text = _FORMATS.get(str(schema.get("format", "")), f"{name} value")
        min_len, max_len = int(schema.get("minLength", 0)), schema.get("maxLength")
        if len(text) < min_len:
            text = text + "x" * (min_len - len(text))
        if max_len is not None and len(text) > int(max_len):
            text = text[: int(max_len)]
        return text


def instance(schema: dict[str, Any], name: str = "value") -> Any:
    """A value valid against the JSON Schema ``schema`` (see module docstring for the rules)."""
    return _Gen(schema).make(schema, name, 0)

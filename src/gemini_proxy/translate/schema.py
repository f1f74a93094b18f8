"""JSON Schema (what OpenAI clients send) -> Gemini's OpenAPI-subset ``Schema``.

Gemini's ``Schema`` (``parameters`` / ``responseSchema``) rejects keywords it does not know
(``$ref``, ``const``, ``title``, ``additionalProperties``...) and ``type: "null"``. We convert:

* ``$ref`` into ``$defs``/``definitions`` (any local JSON pointer) is inlined; sibling keywords
  (``description``) override the target.
* ``allOf`` is merged into one schema; ``oneOf`` is treated like ``anyOf``; an ``anyOf`` whose
  only other branch is ``{"type": "null"}`` collapses to that branch + ``nullable``; type arrays
  such as ``["string", "null"]`` become ``type`` + ``nullable`` (several non-null types: ``anyOf``).
* ``const`` -> one-value ``enum``. Enums are sent as strings with ``type: STRING`` (Gemini only
  supports string enums), so ``[1, 2]`` becomes ``["1", "2"]``; ``null`` in an enum -> ``nullable``.
* ``format`` is kept only where Gemini uses it (``date-time``, ``enum``, ``int32``, ``int64``,
  ``float``, ``double``); any other format is moved into the description, so the model still sees it.
* ``exclusiveMinimum``/``exclusiveMaximum`` (numbers) become ``minimum``/``maximum``.
* Everything else (``title``, ``default``, ``examples``, ``$schema``, ``additionalProperties``,
  ``x-*``...) is dropped. ``propertyOrdering`` lists properties in declaration order.

A schema that the subset cannot express -- recursive refs, open-ended objects (no
``properties``), arrays without ``items``, untyped "any" values, enums of arrays or objects, or
inlining that would blow up -- is sent instead as plain JSON Schema (``parametersJsonSchema`` /
``responseJsonSchema``), self-contained: ``$defs`` kept, ``$schema``/``$id``/``$comment``/``x-*``
removed. Either way, a schema nested more than 64 levels deep, or whose ``properties`` is not an
object or ``required`` not an array, is a 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from gemini_proxy.errors import InvalidRequest, shown

_KEEP_FORMATS = frozenset({"date-time", "enum", "int32", "int64", "float", "double"})
_COPY = ("minItems", "maxItems", "minLength", "maxLength", "pattern", "minimum", "maximum",
         "minProperties", "maxProperties")  # fmt: skip
_TYPES = {"string": "STRING", "number": "NUMBER", "integer": "INTEGER", "boolean": "BOOLEAN",
          "array": "ARRAY", "object": "OBJECT"}  # fmt: skip
_MAX_NODES = 2000  # inlined size above which we send the JSON Schema instead
_MAX_DEPTH = 64  # deeper schemas are refused: no real tool needs them, and they would overflow the stack
_DROP_JSON = frozenset({"$schema", "$id", "$comment"})
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
_SCHEMA_LISTS = frozenset({"anyOf", "oneOf", "allOf", "prefixItems"})
_SCHEMA_ONE = frozenset({"items", "additionalProperties", "not", "if", "then", "else", "contains",
                         "propertyNames", "unevaluatedProperties", "additionalItems"})  # fmt: skip


class _Unrepresentable(Exception):
    """Internal: the Schema subset cannot express this; fall back to JSON Schema."""


def to_gemini_schema(schema: object, *, param: str) -> tuple[Literal["schema", "json"], dict[str, Any]]:
    """``("schema", openapi_subset)`` or, when it cannot be expressed, ``("json", json_schema)``."""
    if not isinstance(schema, dict):
        raise InvalidRequest("schema must be a JSON Schema object", param=param)
    conv = _Converter(schema, param)
    try:
        return "schema", conv.convert(schema, ())
    except _Unrepresentable:
        return "json", clean_json_schema(schema, param=param)


def clean_json_schema(schema: Mapping[str, Any], *, param: str, depth: int = 1) -> dict[str, Any]:
    if depth > _MAX_DEPTH:
        raise InvalidRequest(f"schema is nested more than {_MAX_DEPTH} levels deep", param=param)
    _check_keywords(schema, param)

    def clean(sub: object) -> object:
        return clean_json_schema(sub, param=param, depth=depth + 1) if isinstance(sub, dict) else sub

    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROP_JSON or key.startswith("x-"):
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {k: clean(v) for k, v in value.items()}
        elif (key in _SCHEMA_LISTS or key == "items") and isinstance(value, list):
            out[key] = [clean(v) for v in value]
        elif key in _SCHEMA_ONE and isinstance(value, dict):
            out[key] = clean(value)
        else:
            out[key] = value
    return out


def _check_keywords(node: Mapping[str, Any], param: str) -> None:
    """The keywords that are read or merged must have their JSON Schema types (null counts as absent)."""
    if node.get("properties") is not None and not isinstance(node["properties"], dict):
        raise InvalidRequest("schema properties must be an object mapping names to schemas", param=param)
    if node.get("required") is not None and not isinstance(node["required"], list):
        raise InvalidRequest("schema required must be an array of property names", param=param)


class _Converter:
    __slots__ = ("root", "param", "nodes", "depth")

    def __init__(self, root: dict[str, Any], param: str) -> None:
        self.root = root
        self.param = param
        self.nodes = 0
        self.depth = 0

    def resolve(self, ref: object) -> dict[str, Any]:
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise InvalidRequest(f"unsupported $ref {shown(ref)}: only local refs can be resolved", param=self.param)
        node: Any = self.root
        for token in ref[1:].lstrip("/").split("/") if ref not in ("#", "#/") else ():
            token = token.replace("~1", "/").replace("~0", "~")
            node = node.get(token) if isinstance(node, dict) else None
            if node is None:
                raise InvalidRequest(f"$ref {shown(ref)} does not resolve", param=self.param)
        if not isinstance(node, dict):
            raise InvalidRequest(f"$ref {shown(ref)} does not point to a schema", param=self.param)
        return node

    def convert(self, node: object, stack: tuple[str, ...]) -> dict[str, Any]:
        self.depth += 1
        try:
            if self.depth > _MAX_DEPTH:
                raise InvalidRequest(f"schema is nested more than {_MAX_DEPTH} levels deep", param=self.param)
            return self._convert(node, stack)
        finally:
            self.depth -= 1

    def _convert(self, node: object, stack: tuple[str, ...]) -> dict[str, Any]:
        self.nodes += 1
        if self.nodes > _MAX_NODES:
            raise _Unrepresentable
        if not isinstance(node, dict):
            if node is True:
                raise _Unrepresentable
            raise InvalidRequest("schema nodes must be objects", param=self.param)
        _check_keywords(node, self.param)
        if "$ref" in node:
            ref = node["$ref"]
            if ref in stack:
                raise _Unrepresentable
            merged = {**self.resolve(ref), **{k: v for k, v in node.items() if k != "$ref"}}
            return self.convert(merged, (*stack, ref))
        if "allOf" in node:
            return self.convert(*self._merge_all_of(node, stack))
        branches = node.get("anyOf", node.get("oneOf"))
        if isinstance(branches, list):
            return self._any_of(node, branches, stack)
        return self._typed(node, stack)

    def _merge_all_of(
        self, node: dict[str, Any], stack: tuple[str, ...]
    ) -> tuple[dict[str, Any], tuple[str, ...]]:
        """The merged schema, and the stack of refs with those the merge followed (a ref that leads
        back to itself through allOf is recursion like any other: without them it looped forever)."""
        merged: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
        subs = node["allOf"]
        if not isinstance(subs, list):
            raise InvalidRequest("allOf must be an array", param=self.param)
        for sub in subs:
            while isinstance(sub, dict) and "$ref" in sub:
                ref = sub["$ref"]
                if ref in stack:
                    raise _Unrepresentable
                sub = {**self.resolve(ref), **{k: v for k, v in sub.items() if k != "$ref"}}
                stack = (*stack, ref)
            if not isinstance(sub, dict):
                raise _Unrepresentable
            _check_keywords(sub, self.param)
            for key, value in sub.items():
                if key == "properties" and isinstance(value, dict):
                    merged["properties"] = {**(merged.get("properties") or {}), **value}
                elif key == "required" and isinstance(value, list):
                    merged["required"] = [*(merged.get("required") or []), *value]
                else:
                    merged.setdefault(key, value)
        return merged, stack

    def _any_of(self, node: dict[str, Any], branches: list[Any], stack: tuple[str, ...]) -> dict[str, Any]:
        rest = {k: v for k, v in node.items() if k not in ("anyOf", "oneOf")}
        non_null = [b for b in branches if not (isinstance(b, dict) and b.get("type") == "null")]
        nullable = len(non_null) < len(branches)
        if not all(isinstance(b, dict) for b in non_null):
            raise _Unrepresentable
        if not non_null:
            out: dict[str, Any] = {"type": "STRING"}
        elif len(non_null) == 1:
            out = self.convert({**rest, **non_null[0], **_annotations(rest)}, stack)
        else:
            out = {"anyOf": [self.convert(b, stack) for b in non_null]}
            if isinstance(rest.get("description"), str):
                out["description"] = rest["description"]
        if nullable or rest.get("nullable") is True:
            out["nullable"] = True
        return out

    def _typed(self, node: dict[str, Any], stack: tuple[str, ...]) -> dict[str, Any]:
        t = node.get("type")
        nullable = node.get("nullable") is True
        if isinstance(t, list):
            types = [x for x in t if x != "null"]
            nullable = nullable or len(types) < len(t)
            if len(types) > 1:
                union: dict[str, Any] = {"anyOf": [self.convert({**node, "type": x}, stack) for x in types]}
                if nullable:
                    union["nullable"] = True
                return union
            t = types[0] if types else "null"
        enum = node.get("enum")
        if "const" in node:
            enum = [node["const"]]
        if isinstance(enum, list) and any(isinstance(v, list | dict) for v in enum):
            raise _Unrepresentable  # an array or object value cannot be one of Gemini's string enums
        if t is None:
            if isinstance(node.get("properties"), dict):
                t = "object"
            elif "items" in node:
                t = "array"
            elif isinstance(enum, list):
                t = "string"
            else:
                raise _Unrepresentable  # "any value"
        out: dict[str, Any] = {}
        description = node.get("description")
        fmt = node.get("format")
        if isinstance(enum, list):
            values = [v for v in enum if v is not None]
            nullable = nullable or len(values) < len(enum)
            out["type"] = "STRING"
            out["enum"] = [_enum_str(v) for v in values]
        elif t == "null":
            out["type"] = "STRING"
            nullable = True
        else:
            gt = _TYPES.get(t) if isinstance(t, str) else None
            if gt is None:
                raise InvalidRequest(f"unknown schema type {shown(t)}", param=self.param)
            out["type"] = gt
            if gt == "OBJECT":
                self._object(node, out, stack)
            elif gt == "ARRAY":
                self._array(node, out, stack)
            for key in _COPY:
                if key in node:
                    out[key] = node[key]
            if gt in ("NUMBER", "INTEGER"):
                for src, dst in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
                    if isinstance(node.get(src), int | float) and not isinstance(node.get(src), bool):
                        out.setdefault(dst, node[src])
        if isinstance(fmt, str) and fmt:
            if fmt in _KEEP_FORMATS:
                out["format"] = fmt
            else:
                description = f"{description} (format: {fmt})" if isinstance(description, str) else f"format: {fmt}"
        if isinstance(description, str) and description:
            out["description"] = description
        if nullable:
            out["nullable"] = True
        return out

    def _object(self, node: dict[str, Any], out: dict[str, Any], stack: tuple[str, ...]) -> None:
        props = node.get("properties")
        if not isinstance(props, dict) or not props:
            raise _Unrepresentable  # open-ended object: Gemini's OBJECT needs properties
        out["properties"] = {name: self.convert(sub, stack) for name, sub in props.items()}
        required = node.get("required")
        if isinstance(required, list):
            req = [r for r in dict.fromkeys(r for r in required if isinstance(r, str)) if r in props]
            if req:
                out["required"] = req
        out["propertyOrdering"] = list(props)

    def _array(self, node: dict[str, Any], out: dict[str, Any], stack: tuple[str, ...]) -> None:
        items = node.get("items")
        if isinstance(items, list):  # draft-4 tuple form
            items = items[0] if len(items) == 1 else {"anyOf": items} if items else None
        if items is None or items is True or items == {}:
            raise _Unrepresentable
        out["items"] = self.convert(items, stack)


def _annotations(node: Mapping[str, Any]) -> dict[str, Any]:
    return {"description": node["description"]} if isinstance(node.get("description"), str) else {}


def _enum_str(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)

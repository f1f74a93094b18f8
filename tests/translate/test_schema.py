"""JSON Schema -> Gemini Schema sanitizer: nothing Gemini rejects survives, nothing useful is lost."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gemini_proxy.errors import InvalidRequest
from gemini_proxy.translate.schema import to_gemini_schema

# Keywords Gemini's Schema accepts (google.ai.generativelanguage_v1beta Schema + propertyOrdering).
GEMINI_KEYS = {
    "type",
    "format",
    "description",
    "nullable",
    "enum",
    "items",
    "properties",
    "required",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "minProperties",
    "maxProperties",
    "anyOf",
    "propertyOrdering",
}
GEMINI_TYPES = {"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT"}


def assert_gemini_schema(node: Any) -> None:
    assert isinstance(node, dict)
    assert set(node) <= GEMINI_KEYS, set(node) - GEMINI_KEYS
    assert "type" in node or "anyOf" in node, node
    if "type" in node:
        assert node["type"] in GEMINI_TYPES
    if "enum" in node:
        assert node["type"] == "STRING" and all(isinstance(v, str) for v in node["enum"])
    for sub in node.get("properties", {}).values():
        assert_gemini_schema(sub)
    if node.get("type") == "OBJECT":
        assert node["properties"] and node["propertyOrdering"] == list(node["properties"])
    if node.get("type") == "ARRAY":
        assert_gemini_schema(node["items"])
    for sub in node.get("anyOf", []):
        assert_gemini_schema(sub)


def obj(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props}


# (id, JSON Schema, expected Gemini Schema)
CONVERT: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "title, default, examples, $schema, additionalProperties dropped",
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "T",
            "additionalProperties": False,
            "type": "object",
            "properties": {"a": {"type": "string", "default": "x", "examples": ["y"], "title": "A"}},
        },
        {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}, "propertyOrdering": ["a"]},
    ),
    (
        "$ref/$defs inlined, sibling description wins",
        {
            "type": "object",
            "properties": {"p": {"$ref": "#/$defs/Pt", "description": "where"}},
            "$defs": {"Pt": {"type": "object", "description": "point", "properties": {"x": {"type": "number"}}}},
        },
        {
            "type": "OBJECT",
            "propertyOrdering": ["p"],
            "properties": {
                "p": {
                    "type": "OBJECT",
                    "description": "where",
                    "properties": {"x": {"type": "NUMBER"}},
                    "propertyOrdering": ["x"],
                }
            },
        },
    ),
    (
        "draft-7 definitions",
        {
            "type": "object",
            "properties": {"c": {"$ref": "#/definitions/C"}},
            "definitions": {"C": {"enum": ["r", "g"]}},
        },
        {"type": "OBJECT", "properties": {"c": {"type": "STRING", "enum": ["r", "g"]}}, "propertyOrdering": ["c"]},
    ),
    (
        "const -> enum",
        obj(kind={"const": "circle"}),
        {
            "type": "OBJECT",
            "properties": {"kind": {"type": "STRING", "enum": ["circle"]}},
            "propertyOrdering": ["kind"],
        },
    ),
    (
        "anyOf with null -> nullable",
        obj(n={"anyOf": [{"type": "integer"}, {"type": "null"}], "description": "maybe"}),
        {
            "type": "OBJECT",
            "properties": {"n": {"type": "INTEGER", "description": "maybe", "nullable": True}},
            "propertyOrdering": ["n"],
        },
    ),
    (
        "type array with null -> nullable",
        obj(s={"type": ["string", "null"]}),
        {"type": "OBJECT", "properties": {"s": {"type": "STRING", "nullable": True}}, "propertyOrdering": ["s"]},
    ),
    (
        "type array of two types -> anyOf",
        obj(v={"type": ["string", "integer"]}),
        {
            "type": "OBJECT",
            "properties": {"v": {"anyOf": [{"type": "STRING"}, {"type": "INTEGER"}]}},
            "propertyOrdering": ["v"],
        },
    ),
    (
        "oneOf -> anyOf",
        obj(v={"oneOf": [{"type": "string"}, {"type": "boolean"}]}),
        {
            "type": "OBJECT",
            "properties": {"v": {"anyOf": [{"type": "STRING"}, {"type": "BOOLEAN"}]}},
            "propertyOrdering": ["v"],
        },
    ),
    (
        "allOf merged",
        {"allOf": [obj(a={"type": "string"}), {"properties": {"b": {"type": "integer"}}, "required": ["b"]}]},
        {
            "type": "OBJECT",
            "properties": {"a": {"type": "STRING"}, "b": {"type": "INTEGER"}},
            "required": ["b"],
            "propertyOrdering": ["a", "b"],
        },
    ),
    (
        "null properties and required beside allOf count as absent",
        {"properties": None, "required": None, "allOf": [obj(a={"type": "string"}), {"required": ["a"]}]},
        {
            "type": "OBJECT",
            "properties": {"a": {"type": "STRING"}},
            "required": ["a"],
            "propertyOrdering": ["a"],
        },
    ),
    (
        "integer enum -> string enum, null in enum -> nullable",
        obj(level={"type": "integer", "enum": [1, 2, None]}),
        {
            "type": "OBJECT",
            "properties": {"level": {"type": "STRING", "enum": ["1", "2"], "nullable": True}},
            "propertyOrdering": ["level"],
        },
    ),
    (
        "unknown format moved to description, known kept",
        obj(
            mail={"type": "string", "format": "email", "description": "address"},
            when={"type": "string", "format": "date-time"},
        ),
        {
            "type": "OBJECT",
            "propertyOrdering": ["mail", "when"],
            "properties": {
                "mail": {"type": "STRING", "description": "address (format: email)"},
                "when": {"type": "STRING", "format": "date-time"},
            },
        },
    ),
    (
        "required filtered to known properties; property order kept",
        {"type": "object", "properties": {"z": {"type": "string"}, "a": {"type": "string"}}, "required": ["a", "q"]},
        {
            "type": "OBJECT",
            "properties": {"z": {"type": "STRING"}, "a": {"type": "STRING"}},
            "required": ["a"],
            "propertyOrdering": ["z", "a"],
        },
    ),
    (
        "array items, limits kept, exclusiveMinimum -> minimum",
        obj(xs={"type": "array", "minItems": 1, "items": {"type": "number", "exclusiveMinimum": 0, "maximum": 9}}),
        {
            "type": "OBJECT",
            "propertyOrdering": ["xs"],
            "properties": {
                "xs": {"type": "ARRAY", "minItems": 1, "items": {"type": "NUMBER", "minimum": 0, "maximum": 9}}
            },
        },
    ),
    (
        "x- extension keywords dropped",
        obj(h={"type": "string", "x-mcp-header": "X-Token"}),
        {"type": "OBJECT", "properties": {"h": {"type": "STRING"}}, "propertyOrdering": ["h"]},
    ),
]


@pytest.mark.parametrize(("schema", "expected"), [(s, e) for _, s, e in CONVERT], ids=[i for i, _, _ in CONVERT])
def test_convert(schema: dict[str, Any], expected: dict[str, Any]) -> None:
    kind, out = to_gemini_schema(schema, param="p")
    assert kind == "schema"
    assert out == expected
    assert_gemini_schema(out)


PYDANTIC_STYLE = {
    "$defs": {
        "Color": {"enum": ["red", "green"], "title": "Color", "type": "string"},
        "Item": {
            "properties": {
                "name": {"title": "Name", "type": "string"},
                "color": {"anyOf": [{"$ref": "#/$defs/Color"}, {"type": "null"}], "default": None},
            },
            "required": ["name"],
            "title": "Item",
            "type": "object",
            "additionalProperties": False,
        },
    },
    "properties": {
        "items": {"items": {"$ref": "#/$defs/Item"}, "title": "Items", "type": "array"},
        "mode": {"const": "fast", "title": "Mode", "type": "string"},
    },
    "required": ["items", "mode"],
    "title": "Order",
    "type": "object",
}


def test_pydantic_style_schema_is_fully_sanitized() -> None:
    kind, out = to_gemini_schema(PYDANTIC_STYLE, param="p")
    assert kind == "schema"
    assert_gemini_schema(out)
    color = out["properties"]["items"]["items"]["properties"]["color"]
    assert color == {"type": "STRING", "enum": ["red", "green"], "nullable": True}
    assert b"$ref" not in orjson.dumps(out) and b"title" not in orjson.dumps(out)


# (id, schema that the subset cannot express)
FALLBACK: list[tuple[str, dict[str, Any]]] = [
    (
        "recursive ref",
        {"$ref": "#/$defs/N", "$defs": {"N": obj(kids={"type": "array", "items": {"$ref": "#/$defs/N"}})}},
    ),
    ("allOf of itself", {"$ref": "#/$defs/A", "$defs": {"A": {"allOf": [{"$ref": "#/$defs/A"}]}}}),
    (
        "allOf of itself, at the root",
        {"allOf": [{"$ref": "#/$defs/A"}], "$defs": {"A": {"allOf": [{"$ref": "#/$defs/A"}]}}},
    ),
    (
        "allOf of a ref cycle",
        {"allOf": [{"$ref": "#/$defs/A"}], "$defs": {"A": {"$ref": "#/$defs/B"}, "B": {"$ref": "#/$defs/A"}}},
    ),
    ("allOf of the root", {"type": "object", "properties": {"a": {"type": "string"}}, "allOf": [{"$ref": "#"}]}),
    ("open-ended object", obj(meta={"type": "object", "additionalProperties": {"type": "string"}})),
    ("array without items", obj(xs={"type": "array"})),
    ("untyped any value", obj(v={})),
    ("enum of arrays and objects", obj(v={"enum": [[1, 2], {"a": 1}]})),
    ("const object", obj(v={"const": {"a": [1]}})),
]


@pytest.mark.parametrize("schema", [s for _, s in FALLBACK], ids=[i for i, _ in FALLBACK])
def test_fallback_to_json_schema(schema: dict[str, Any]) -> None:
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "x-internal": 1, **schema}
    kind, out = to_gemini_schema(schema, param="p")
    assert kind == "json"
    assert "$schema" not in out and "x-internal" not in out
    assert out == {k: v for k, v in schema.items() if k not in ("$schema", "x-internal")}


def test_fallback_keeps_property_named_like_a_keyword() -> None:
    schema = obj(**{"x-id": {"type": "string"}, "any": {}})
    kind, out = to_gemini_schema(schema, param="p")
    assert kind == "json" and set(out["properties"]) == {"x-id", "any"}


# (id, schema that is not valid JSON Schema)
INVALID: list[tuple[str, Any]] = [
    ("not an object", [1]),
    ("remote ref", obj(a={"$ref": "https://example.com/schema.json"})),
    ("unknown type", obj(a={"type": "date"})),
    ("node not an object", obj(a=5)),
    ("properties a string", {"type": "object", "properties": "x"}),
    ("properties a string beside allOf", {"type": "object", "properties": "x", "allOf": [obj(a={"type": "string"})]}),
    ("properties a list beside allOf", {"properties": ["a"], "allOf": [obj(a={"type": "string"})]}),
    ("properties a string in an earlier allOf branch", {"allOf": [{"properties": "x"}, obj(a={"type": "string"})]}),
    ("properties a number behind a $ref", {"allOf": [{"$ref": "#/$defs/P"}], "$defs": {"P": {"properties": 1}}}),
    ("properties a string in a schema sent as JSON Schema", obj(meta={}, deep={"properties": "x"})),
    ("required a number", {**obj(a={"type": "string"}), "required": 5}),
    ("required a string", {**obj(a={"type": "string"}), "required": "a"}),
    ("required a number beside allOf", {**obj(a={"type": "string"}), "required": 5, "allOf": [{"required": ["a"]}]}),
    ("required true beside allOf", {**obj(a={"type": "string"}), "required": True, "allOf": [{"required": ["a"]}]}),
    ("required a string beside allOf", {**obj(a={"type": "string"}), "required": "abc", "allOf": [{}]}),
    ("required a string in an allOf branch", {"allOf": [obj(a={"type": "string"}), {"required": "a"}]}),
    ("required a number in a schema sent as JSON Schema", obj(meta={}, deep={**obj(a={}), "required": 1})),
]


@pytest.mark.parametrize("schema", [s for _, s in INVALID], ids=[i for i, _ in INVALID])
def test_invalid_schema_is_400(schema: Any) -> None:
    with pytest.raises(InvalidRequest) as info:
        to_gemini_schema(schema, param="tools[0].function.parameters")
    assert info.value.param == "tools[0].function.parameters"


def test_tool_with_recursive_schema_uses_parameters_json_schema() -> None:
    from .requests import body, gem

    schema = FALLBACK[0][1]
    out = gem(body(tools=[{"type": "function", "function": {"name": "tree", "parameters": schema}}]))
    decl = out["tools"][0]["functionDeclarations"][0]
    assert "parameters" not in decl and decl["parametersJsonSchema"] == schema

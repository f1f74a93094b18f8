"""``tools``/``functions`` + ``tool_choice``/``function_call`` -> Gemini ``tools`` + ``toolConfig``.

* All functions go into one ``{"functionDeclarations": [...]}`` entry; parameters through the
  schema sanitizer (``parameters``, or ``parametersJsonSchema`` when the subset cannot express
  them). A function without parameters (absent, or an object with no properties) has no
  ``parameters`` key.
* ``tool_choice``: ``none`` -> NONE, ``auto`` -> AUTO, ``required`` -> ANY,
  ``{"type": "function", "function": {"name": n}}`` -> ANY + ``allowedFunctionNames: [n]``,
  ``{"type": "allowed_tools", "allowed_tools": {"mode", "tools"}}`` -> only those declarations,
  AUTO or ANY. Legacy ``function_call`` maps the same way.
* ``parallel_tool_calls: false``: Gemini has no switch, so the request is unchanged and the
  response side keeps only the first call (``ChatCall.parallel_tool_calls``).
"""

from __future__ import annotations

import re
from collections.abc import Container, MutableMapping
from dataclasses import dataclass
from typing import Any

import orjson

from gemini_proxy.errors import InvalidRequest, shown

from .gemini_types import ToolConfig
from .schema import to_gemini_schema

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:\-]{0,127}")


@dataclass(slots=True)  # read-only by convention (frozen costs a few us per request)
class ToolSetup:
    tools: list[dict[str, Any]] | None
    tool_config: ToolConfig | None
    legacy: bool


# Every body member to_tools reads: a request with none of them skips it all.
_MEMBERS = frozenset({"tools", "functions", "tool_choice", "function_call"})

SchemaCache = MutableMapping[bytes, tuple[str, dict[str, Any]]]
_CACHE_SIZE = 512


def to_tools(body: dict[str, Any], schema_cache: SchemaCache | None = None) -> ToolSetup:
    """``schema_cache``, owned by the caller, memoizes schema conversion: clients resend the same
    tools on every request, and converting them is most of the cost of translating such a request.
    Its entries are shared between requests and must only ever be serialized, never changed."""
    if _MEMBERS.isdisjoint(body):
        return ToolSetup(None, None, False)
    tools, functions = body.get("tools"), body.get("functions")
    legacy = tools is None and functions is not None
    decls: dict[str, dict[str, Any]] = {}
    if tools is not None:
        if not isinstance(tools, list):
            raise InvalidRequest("tools must be an array", param="tools")
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict):
                raise InvalidRequest("each tool must be an object", param=f"tools[{i}]")
            if tool.get("type") != "function":
                raise InvalidRequest(f"unsupported tool type {shown(tool.get('type'))}", param=f"tools[{i}].type")
            declare(tool.get("function"), f"tools[{i}].function", decls, schema_cache)
    elif functions is not None:
        if not isinstance(functions, list):
            raise InvalidRequest("functions must be an array", param="functions")
        for i, fn in enumerate(functions):
            declare(fn, f"functions[{i}]", decls, schema_cache)
    choice_param = "function_call" if legacy else "tool_choice"
    config = _tool_config(body.get(choice_param), choice_param, decls)
    gemini_tools = [{"functionDeclarations": list(decls.values())}] if decls else None
    return ToolSetup(gemini_tools, config, legacy)


def declare(fn: object, param: str, decls: dict[str, dict[str, Any]], cache: SchemaCache | None) -> None:
    """Validate one function (name, description, parameters) and add its Gemini declaration to ``decls``."""
    if not isinstance(fn, dict):
        raise InvalidRequest("function must be an object", param=param)
    decl = declaration(fn.get("name"), fn.get("description"), fn.get("parameters"), param=param,
                       schema_param=param + ".parameters", declared=decls, cache=cache)  # fmt: skip
    decls[decl["name"]] = decl


def declaration(
    name: object,
    description: object,
    schema: object,
    *,
    param: str,
    schema_param: str,
    declared: Container[str],
    cache: SchemaCache | None,
) -> dict[str, Any]:
    """One ``functionDeclarations`` entry (shared by the OpenAI and Anthropic surfaces).

    ``param`` names the tool (``.name`` is appended for a bad name), ``schema_param`` its schema;
    a name already in ``declared`` is a 400."""
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise InvalidRequest(
            "function name must start with a letter or underscore and contain only a-z, A-Z, 0-9, _ . : - "
            "(max 128 characters)",
            param=param + ".name",
        )
    if name in declared:
        raise InvalidRequest(f"duplicate function name {shown(name)}", param=param + ".name")
    decl: dict[str, Any] = {"name": name}
    if isinstance(description, str) and description:
        decl["description"] = description
    if schema is not None and not _is_empty_object(schema):
        kind, converted = _converted(schema, schema_param, cache)
        decl["parameters" if kind == "schema" else "parametersJsonSchema"] = converted
    return decl


def _converted(params: Any, param: str, cache: SchemaCache | None) -> tuple[str, dict[str, Any]]:
    if cache is None:
        return to_gemini_schema(params, param=param)
    try:
        key = orjson.dumps(params)  # key order matters: it becomes propertyOrdering
    except orjson.JSONEncodeError:
        return to_gemini_schema(params, param=param)
    hit = cache.get(key)
    if hit is None:
        hit = to_gemini_schema(params, param=param)  # a bad schema raises: errors are never cached
        if len(cache) >= _CACHE_SIZE:
            cache.clear()
        cache[key] = hit
    return hit


def _is_empty_object(schema: object) -> bool:
    if not isinstance(schema, dict):
        return False
    if schema.get("properties") or any(k in schema for k in ("$ref", "anyOf", "oneOf", "allOf")):
        return False
    return bool(schema.get("type", "object") == "object")


def _tool_config(choice: object, param: str, decls: dict[str, dict[str, Any]]) -> ToolConfig | None:
    if choice is None:
        return None
    if choice in ("none", "auto"):
        return {"functionCallingConfig": {"mode": "NONE" if choice == "none" else "AUTO"}} if decls else None
    if not decls:
        raise InvalidRequest(f"{param} requires tools", param=param)
    if choice == "required":
        return {"functionCallingConfig": {"mode": "ANY"}}
    if not isinstance(choice, dict):
        raise InvalidRequest(f"{param} must be 'none', 'auto', 'required' or an object", param=param)
    if choice.get("type") == "allowed_tools":
        return _allowed_tools(choice.get("allowed_tools"), param + ".allowed_tools", decls)
    fn = choice.get("function") if param == "tool_choice" else choice
    name = fn.get("name") if isinstance(fn, dict) else None
    if param == "tool_choice" and choice.get("type") != "function":
        raise InvalidRequest(f"unsupported tool_choice type {shown(choice.get('type'))}", param="tool_choice.type")
    if not isinstance(name, str):
        raise InvalidRequest("a function name is required", param=param)
    if name not in decls:
        raise InvalidRequest(f"{param} names unknown function {shown(name)}", param=param)
    return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}


def _allowed_tools(spec: object, param: str, decls: dict[str, dict[str, Any]]) -> ToolConfig:
    if (
        not isinstance(spec, dict)
        or spec.get("mode") not in ("auto", "required")
        or not isinstance(spec.get("tools"), list)
    ):
        raise InvalidRequest("allowed_tools needs mode 'auto'|'required' and a tools array", param=param)
    names: list[str] = []
    for tool in spec["tools"]:
        fn = tool.get("function") if isinstance(tool, dict) else None
        name = fn.get("name") if isinstance(fn, dict) else None
        if not isinstance(name, str) or name not in decls:
            raise InvalidRequest(f"allowed_tools names unknown function {shown(name)}", param=param + ".tools")
        names.append(name)
    for name in [n for n in decls if n not in names]:
        del decls[name]
    return {"functionCallingConfig": {"mode": "ANY" if spec["mode"] == "required" else "AUTO"}}

"""Anthropic ``tools`` + ``tool_choice`` -> Gemini ``tools`` + ``toolConfig``.

* Custom tools (``type`` absent, null or ``custom``): ``name``, ``description``, ``input_schema``
  -> one ``functionDeclarations`` entry each, the schema through the same conversion as the OpenAI
  surface (``$schema``, ``additionalProperties`` and other annotations dropped, or the schema sent
  as ``parametersJsonSchema``). ``cache_control``, ``strict``, ``input_examples``,
  ``eager_input_streaming`` and ``allowed_callers`` are ignored.
* ``defer_loading: true``: the tool is declared only once the conversation has loaded it -- a
  ``tool_reference`` to it in a ``tool_result`` (Claude Code's ToolSearch) or a
  ``tool_search_tool_result``, or a ``tool_use`` of it in the history. A reference to a tool that
  is not in ``tools`` is a 400.
* Server tools: ``web_search_*`` -> ``googleSearch``, ``web_fetch_*`` -> ``urlContext``,
  ``code_execution_*`` -> ``codeExecution`` (their options -- domains, location, max_uses -- have
  no Gemini counterpart and are ignored). Any other typed tool (tool search, bash, text editor,
  memory, computer/browser use) is a 400: Gemini has no such tool, and Anthropic-defined client
  tools have no schema we could declare.
* ``tool_choice``: ``auto`` -> AUTO, ``any`` -> ANY, ``tool`` -> ANY + ``allowedFunctionNames``,
  ``none`` -> NONE. ``disable_parallel_tool_use: true``: Gemini has no switch; the response keeps
  the first tool_use only.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from gemini_proxy.errors import InvalidRequest, shown

from ..gemini_types import ToolConfig
from ..tools import SchemaCache, declaration

_SERVER = {"web_search": "googleSearch", "web_fetch": "urlContext", "code_execution": "codeExecution"}


@dataclass(slots=True)
class ToolSetup:
    tools: list[dict[str, Any]] | None
    tool_config: ToolConfig | None
    parallel: bool
    server: frozenset[str]


def _server_kind(kind: str) -> str | None:
    for name in _SERVER:
        if kind == name or kind.startswith(name + "_2"):
            return name
    return None


def to_tools(
    body: dict[str, Any],
    *,
    references: Mapping[str, str],
    used: Collection[str],
    cache: SchemaCache | None,
) -> ToolSetup:
    tools = body.get("tools")
    decls: dict[str, dict[str, Any]] = {}
    all_names: set[str] = set()
    server: list[str] = []
    choice = body.get("tool_choice")
    forced = choice.get("name") if isinstance(choice, dict) and choice.get("type") == "tool" else None
    if isinstance(forced, str):
        used = {*used, forced}  # a tool the client forces is loaded, deferred or not
    if tools is not None:
        if not isinstance(tools, list):
            raise InvalidRequest("tools must be an array", param="tools")
        for i, tool in enumerate(tools):
            param = f"tools[{i}]"
            if not isinstance(tool, dict):
                raise InvalidRequest("each tool must be an object", param=param)
            kind = tool.get("type")
            if kind is None or kind == "custom":
                _custom(tool, param, decls, all_names, references, used, cache)
            elif isinstance(kind, str) and (name := _server_kind(kind)) is not None:
                if name not in server:
                    server.append(name)
            else:
                raise InvalidRequest(
                    f"tool type {shown(kind)} has no Gemini counterpart; declare a custom tool with an "
                    "input_schema (server tools supported: web_search, web_fetch, code_execution)",
                    param=param + ".type",
                )
    for tool, param in references.items():
        if tool not in all_names:
            raise InvalidRequest(f"tool_reference names a tool that is not in tools: {shown(tool)}", param=param)
    config, parallel = _tool_config(choice, decls, bool(server))
    gemini: list[dict[str, Any]] = []
    if decls:
        gemini.append({"functionDeclarations": list(decls.values())})
    gemini.extend({_SERVER[name]: {}} for name in server)
    return ToolSetup(gemini or None, config, parallel, frozenset(server))


def _custom(tool: dict[str, Any], param: str, decls: dict[str, dict[str, Any]], all_names: set[str],
            references: Mapping[str, str], used: Collection[str], cache: SchemaCache | None) -> None:  # fmt: skip
    schema = tool.get("input_schema")
    if schema is None:
        raise InvalidRequest("Field required", param=param + ".input_schema")
    if not isinstance(schema, dict):
        raise InvalidRequest("input_schema must be a JSON Schema object", param=param + ".input_schema")
    defer = tool.get("defer_loading")
    if defer is not None and not isinstance(defer, bool):
        raise InvalidRequest("defer_loading must be a boolean", param=param + ".defer_loading")
    decl = declaration(tool.get("name"), tool.get("description"), schema, param=param,
                       schema_param=param + ".input_schema", declared=all_names, cache=cache)  # fmt: skip
    all_names.add(decl["name"])
    if defer and decl["name"] not in references and decl["name"] not in used:
        return
    decls[decl["name"]] = decl


def _tool_config(choice: object, decls: dict[str, dict[str, Any]], server: bool) -> tuple[ToolConfig | None, bool]:
    """-> (toolConfig, parallel tool use allowed)."""
    if choice is None:
        return None, True
    if not isinstance(choice, dict):
        raise InvalidRequest("tool_choice must be an object", param="tool_choice")
    kind = choice.get("type")
    parallel = choice.get("disable_parallel_tool_use")
    if parallel is not None and not isinstance(parallel, bool):
        raise InvalidRequest("disable_parallel_tool_use must be a boolean",
                             param="tool_choice.disable_parallel_tool_use")  # fmt: skip
    allowed = parallel is not True
    if kind == "auto":
        return ({"functionCallingConfig": {"mode": "AUTO"}} if decls else None), allowed
    if kind == "none":
        return ({"functionCallingConfig": {"mode": "NONE"}} if decls else None), allowed
    if kind == "any":
        if not decls:
            if server:  # Gemini's ANY is about declared functions; server tools alone cannot be forced
                return None, allowed
            raise InvalidRequest("tool_choice 'any' requires tools", param="tool_choice")
        return {"functionCallingConfig": {"mode": "ANY"}}, allowed
    if kind == "tool":
        name = choice.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidRequest("Field required", param="tool_choice.name")
        if name not in decls:
            raise InvalidRequest(f"tool_choice names unknown tool {shown(name)}", param="tool_choice.name")
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}, allowed
    raise InvalidRequest("tool_choice.type must be 'auto', 'any', 'tool' or 'none'", param="tool_choice.type")

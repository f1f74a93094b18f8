"""Responses ``tools`` + ``tool_choice`` -> Gemini ``tools`` + ``toolConfig``.

* ``function`` tools -> one ``functionDeclarations`` entry (parameters through the shared schema
  converter). ``strict`` is accepted and echoed; Gemini has no strict mode.
* ``namespace`` tools (a named group of function tools; Codex sends one) are flattened: the
  function ``f`` of namespace ``ns`` is declared to Gemini as ``ns__f``. ``names`` maps every
  Gemini name back to ``(namespace, name)``, so that calls come back as
  ``{"namespace": "ns", "name": "f"}``; a flattened name that collides with another function is
  a 400. The namespace's description is not sent (Gemini has no namespaces).
* ``web_search`` (and ``web_search_preview``) -> ``{"googleSearch": {}}``; ``filters``,
  ``user_location`` and ``search_context_size`` are ignored. With ``external_web_access: false``
  (Codex's default: search over a cache only, which Google Search cannot promise) the tool is left
  out rather than refused.
* Every other tool type (``file_search``, ``computer_use_preview``, ``code_interpreter``, ``mcp``,
  ``image_generation``, ``local_shell``, ``shell``, ``apply_patch``, ``custom``, ``tool_search``...)
  is a 400 naming ``tools[i].type``.
* ``tool_choice``: ``auto`` AUTO, ``none`` NONE, ``required`` ANY, ``{"type": "function",
  "name": n}`` ANY + ``allowedFunctionNames`` (``n`` as declared to Gemini, or a function's own
  name when only one namespace has it), ``{"type": "allowed_tools", ...}`` only those functions,
  AUTO or ANY; ``{"type": "web_search_preview"}`` and its siblings cannot be forced on Gemini and
  leave the choice to the model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gemini_proxy.errors import InvalidRequest, shown

from ..gemini_types import ToolConfig
from ..tools import SchemaCache, declare

SEPARATOR = "__"
_NAMESPACE = re.compile(r"[A-Za-z0-9_\-]{1,64}")
# Tuples, not sets: a client may send an unhashable ``type``.
_WEB_SEARCH = ("web_search", "web_search_2025_08_26", "web_search_preview", "web_search_preview_2025_03_11")


@dataclass(slots=True)
class ResponsesTools:
    tools: list[dict[str, Any]] | None
    tool_config: ToolConfig | None
    names: dict[str, tuple[str | None, str]]
    echo: list[dict[str, Any]]
    web_search: bool


def flat_name(namespace: str | None, name: str) -> str:
    return f"{namespace}{SEPARATOR}{name}" if namespace else name


def to_tools(tools: object, choice: object, cache: SchemaCache | None) -> ResponsesTools:
    decls: dict[str, dict[str, Any]] = {}
    names: dict[str, tuple[str | None, str]] = {}
    echo: list[dict[str, Any]] = []
    search = False
    if tools is not None:
        if not isinstance(tools, list):
            raise InvalidRequest("tools must be an array", param="tools")
        for i, tool in enumerate(tools):
            param = f"tools[{i}]"
            if not isinstance(tool, dict):
                raise InvalidRequest("each tool must be an object", param=param)
            kind = tool.get("type")
            if kind == "function":
                echo.append(_function(tool, None, param, decls, names, cache))
            elif kind == "namespace":
                echo.append(_namespace(tool, param, decls, names, cache))
            elif kind in _WEB_SEARCH:
                if tool.get("external_web_access") is not False:
                    search = True
                echo.append(tool)
            else:
                raise InvalidRequest(
                    f"tool type {shown(kind)} is not supported: Gemini has no counterpart", param=param + ".type"
                )
    config = _tool_config(choice, decls, names)
    gemini: list[dict[str, Any]] = []
    if decls:
        gemini.append({"functionDeclarations": list(decls.values())})
    if search:
        gemini.append({"googleSearch": {}})
    return ResponsesTools(gemini or None, config, names, echo, search)


def _function(
    tool: dict[str, Any],
    namespace: str | None,
    param: str,
    decls: dict[str, dict[str, Any]],
    names: dict[str, tuple[str | None, str]],
    cache: SchemaCache | None,
) -> dict[str, Any]:
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRequest("function name must be a non-empty string", param=param + ".name")
    strict = tool.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise InvalidRequest("strict must be a boolean", param=param + ".strict")
    flat = flat_name(namespace, name)
    declare({**tool, "name": flat}, param, decls, cache)
    names[flat] = (namespace, name)
    description = tool.get("description")
    return {
        "type": "function",
        "name": name,
        "description": description if isinstance(description, str) else None,
        "parameters": tool.get("parameters"),
        "strict": True if strict is None else strict,
    }


def _namespace(
    tool: dict[str, Any],
    param: str,
    decls: dict[str, dict[str, Any]],
    names: dict[str, tuple[str | None, str]],
    cache: SchemaCache | None,
) -> dict[str, Any]:
    ns = tool.get("name")
    if not isinstance(ns, str) or _NAMESPACE.fullmatch(ns) is None:
        raise InvalidRequest("namespace name must be 1-64 characters of a-z, A-Z, 0-9, _ and -", param=param + ".name")
    members = tool.get("tools")
    if not isinstance(members, list) or not members:
        raise InvalidRequest("a namespace needs a non-empty tools array", param=param + ".tools")
    echoed = []
    for j, member in enumerate(members):
        mparam = f"{param}.tools[{j}]"
        if not isinstance(member, dict) or member.get("type") != "function":
            kind = member.get("type") if isinstance(member, dict) else None
            raise InvalidRequest(f"namespace tools must be function tools, not {shown(kind)}", param=mparam + ".type")
        echoed.append(_function(member, ns, mparam, decls, names, cache))
    description = tool.get("description")
    return {"type": "namespace", "name": ns, "description": description if isinstance(description, str) else "",
            "tools": echoed}  # fmt: skip


def _named(name: object, param: str, names: dict[str, tuple[str | None, str]]) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidRequest("a function name is required", param=param)
    if name in names:
        return name
    matches = [flat for flat, (_, bare) in names.items() if bare == name]
    if len(matches) == 1:
        return matches[0]
    raise InvalidRequest(f"tool_choice names unknown function {shown(name)}", param=param)


def _tool_config(
    choice: object, decls: dict[str, dict[str, Any]], names: dict[str, tuple[str | None, str]]
) -> ToolConfig | None:
    if choice is None or choice == "auto":
        return None
    if choice == "none":
        return {"functionCallingConfig": {"mode": "NONE"}} if decls else None
    if choice == "required":
        if not decls:
            raise InvalidRequest("tool_choice 'required' needs function tools", param="tool_choice")
        return {"functionCallingConfig": {"mode": "ANY"}}
    if not isinstance(choice, dict):
        raise InvalidRequest("tool_choice must be 'none', 'auto', 'required' or an object", param="tool_choice")
    kind = choice.get("type")
    if kind == "function":
        name = _named(choice.get("name"), "tool_choice.name", names)
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
    if kind == "allowed_tools":
        mode, listed = choice.get("mode"), choice.get("tools")
        if mode not in ("auto", "required") or not isinstance(listed, list):
            raise InvalidRequest("allowed_tools needs mode 'auto'|'required' and a tools array", param="tool_choice")
        keep: set[str] = set()
        for k, entry in enumerate(listed):
            if isinstance(entry, dict) and entry.get("type") in _WEB_SEARCH:
                continue
            if not isinstance(entry, dict) or entry.get("type") != "function":
                raise InvalidRequest("allowed_tools may list function and web_search tools",
                                     param=f"tool_choice.tools[{k}]")  # fmt: skip
            keep.add(_named(entry.get("name"), f"tool_choice.tools[{k}].name", names))
        for name in [n for n in decls if n not in keep]:
            del decls[name]
        if not decls:
            return None
        return {"functionCallingConfig": {"mode": "ANY" if mode == "required" else "AUTO"}}
    if kind in _WEB_SEARCH:
        return None  # Gemini cannot be made to search; the model decides
    raise InvalidRequest(f"tool_choice type {shown(kind)} is not supported", param="tool_choice.type")

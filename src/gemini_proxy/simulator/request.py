"""Semantic checks of a (normalised) GenerateContentRequest and the facts generation needs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gemini_proxy.simulator import builtin_tools, directives, errors, signatures, tokens
from gemini_proxy.simulator.caches import CacheStore
from gemini_proxy.simulator.catalog import ModelInfo
from gemini_proxy.simulator.validate import decode_bytes

DATA_FIELDS = ("text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode",
               "codeExecutionResult")
_FN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:\-]{0,127}")
JSON_MIMES = ("application/json", "text/x.enum")
LEVEL_CAPS = {"MINIMAL": 8, "LOW": 256, "MEDIUM": 4096}
MISSING_SIGNATURE = (
    "Function call is missing a thought_signature in functionCall parts. This is required for tools to work "
    "correctly, and missing thought_signature may lead to degraded model performance. Additional data, function "
    "call `default_api:{name}` , position {pos}. Please refer to https://ai.google.dev/gemini-api/docs/"
    "thought-signatures for more details."
)


def _bad(field: str, text: str) -> errors.SimError:
    return errors.invalid_argument(f"* GenerateContentRequest.{field}: {text}\n", field)


@dataclass
class GenRequest:
    model: ModelInfo
    contents: list[dict[str, Any]]
    system: dict[str, Any] | None
    declarations: list[dict[str, Any]]
    mode: str
    allowed: list[str] | None
    gen: dict[str, Any]
    thinking_on: bool
    thinking_cap: int
    include_thoughts: bool
    prompt_tokens: int
    cached_tokens: int
    builtins: frozenset[str] = frozenset()  # built-in tools turned on (builtin_tools.NAMES)
    script: directives.Script | None = None  # [[sim:call/then/say]] of the prompt turn


def check_contents(contents: list[dict[str, Any]], prefix: str = "contents") -> None:
    for i, content in enumerate(contents):
        parts = content.get("parts") or []
        if not parts:
            raise _bad(f"{prefix}[{i}].parts", "contents.parts must not be empty.")
        for j, part in enumerate(parts):
            if sum(1 for f in DATA_FIELDS if f in part) != 1:
                raise _bad(f"{prefix}[{i}].parts[{j}].data",
                           "required oneof field 'data' must have one initialized field")


def check_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    decls: list[dict[str, Any]] = []
    for i, tool in enumerate(tools):
        for j, decl in enumerate(tool.get("functionDeclarations") or []):
            path = f"tools[{i}].function_declarations[{j}]"
            name = decl.get("name", "")
            if not _FN_NAME.fullmatch(name):
                raise _bad(f"{path}.name", "Invalid function name. Must start with a letter or an underscore. "
                           "Must be a-z, A-Z, 0-9, or contain underscores, dots, colons and dashes, with a "
                           "maximum length of 128.")
            if "parameters" in decl and "parametersJsonSchema" in decl:
                raise _bad(f"{path}.parameters_json_schema",
                           "parameters and parameters_json_schema are mutually exclusive.")
            for field in ("parametersJsonSchema", "responseJsonSchema"):
                check_json_schema(decl, field, path)
            decls.append(decl)
    return decls


def check_json_schema(holder: dict[str, Any], field: str, path: str) -> None:
    """A user JSON Schema (``parametersJsonSchema``, ``responseJsonSchema``…) must be an object."""
    if field in holder and not isinstance(holder[field], dict):
        name = re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), field)
        where = f"{path}.{name}" if path else name
        raise _bad(where, f"{name} must be a JSON object (a JSON Schema).")


def thinking(model: ModelInfo, gen: dict[str, Any]) -> tuple[bool, int, bool]:
    """(thinking on, token cap, include thoughts) after Google's checks."""
    cfg = gen.get("thinkingConfig") or {}
    include = bool(cfg.get("includeThoughts"))
    if not model.thinking:
        return False, 0, False
    budget, level = cfg.get("thinkingBudget"), cfg.get("thinkingLevel")
    path = "generation_config.thinking_config"
    if budget is not None and level is not None:
        raise errors.invalid_argument("You can only set only one of thinking budget and thinking level.")
    if level is not None:
        if not model.levels:
            raise errors.invalid_argument("Thinking level is not supported for this model.", f"{path}.thinking_level")
        if level != "THINKING_LEVEL_UNSPECIFIED" and level not in model.levels:
            raise errors.invalid_argument(f"Thinking level {level} is not supported for this model.",
                                          f"{path}.thinking_level")
        return True, LEVEL_CAPS.get(level, model.budget_max), include
    if budget is None or budget == -1:
        return model.default_thinking, model.budget_max, include and model.default_thinking
    if budget == 0:
        if model.is_gemini3 and model.can_disable:
            return True, LEVEL_CAPS["MINIMAL"], include
        if not model.can_disable:
            raise errors.invalid_argument("Budget 0 is invalid. This model only works in thinking mode.")
        return False, 0, False
    if not model.budget_min <= budget <= model.budget_max:
        raise errors.invalid_argument(
            f"The thinking budget {budget} is invalid. Please choose a value between "
            f"{model.budget_min} and {model.budget_max}.", f"{path}.thinking_budget")
    return True, budget, include


def check_signatures(contents: list[dict[str, Any]], model: ModelInfo, secret: bytes) -> None:
    current_turn = 0
    for i, content in enumerate(contents):
        parts = content.get("parts") or []
        if content.get("role", "user") != "model" and any("functionResponse" not in p for p in parts):
            current_turn = i
    for i, content in enumerate(contents):
        first_call = True
        for j, part in enumerate(content.get("parts") or []):
            sig = part.get("thoughtSignature")
            if sig is not None and not signatures.verify(secret, sig, decode_bytes(sig), part):
                raise errors.invalid_argument("Corrupted thought signature.", f"contents[{i}].parts[{j}]")
            if "functionCall" in part and content.get("role") == "model":
                if first_call and sig is None and model.is_gemini3 and i > current_turn:
                    name = part["functionCall"].get("name", "")
                    raise errors.invalid_argument(MISSING_SIGNATURE.format(name=name, pos=i + 1))
                first_call = False


def build(body: dict[str, Any], model: ModelInfo, caches: CacheStore, project: str, secret: bytes) -> GenRequest:
    contents: list[dict[str, Any]] = body.get("contents") or []
    if not contents:
        raise _bad("contents", "contents is not specified")
    check_contents(contents)
    system = body.get("systemInstruction")
    tools = body.get("tools") or []
    tool_config = body.get("toolConfig") or {}
    gen = body.get("generationConfig") or {}
    cached_tokens = 0
    history = contents
    if body.get("cachedContent"):
        if system or tools or tool_config:
            raise errors.invalid_argument(
                "CachedContent can not be used with GenerateContent request setting system_instruction, tools or "
                "tool_config.\n\nProposed fix: move those values to CachedContent from GenerateContent request.")
        entry = caches.get(project, str(body["cachedContent"]))
        if entry.model != f"models/{model.id}":
            raise errors.invalid_argument(
                f"Model used by GenerateContent request (models/{model.id}) and CachedContent ({entry.model}) "
                "has to be the same.")
        system, tools, tool_config = entry.system_instruction, entry.tools or [], entry.tool_config or {}
        cached_tokens = entry.token_count
        history = entry.contents + contents
    decls = check_tools(tools)
    mime = gen.get("responseMimeType", "text/plain")
    if ("responseSchema" in gen or "responseJsonSchema" in gen) and mime not in JSON_MIMES:
        raise _bad("generation_config.response_mime_type",
                   "response_mime_type must be one of: application/json, text/x.enum when response_schema is set.")
    if "responseSchema" in gen and "responseJsonSchema" in gen:
        raise _bad("generation_config.response_json_schema",
                   "response_schema and response_json_schema are mutually exclusive.")
    for field in ("responseJsonSchema", "responseJsonSchemaOrdered"):
        check_json_schema(gen, field, "generation_config")
    if "maxOutputTokens" in gen and gen["maxOutputTokens"] < 1:
        raise _bad("generation_config.max_output_tokens", "max_output_tokens must be positive.")
    count = gen.get("candidateCount", 1)
    if not 1 <= count <= 8:
        raise _bad("generation_config.candidate_count", "candidate_count must be between 1 and 8.")
    on, cap, include = thinking(model, gen)
    check_signatures(contents, model, secret)
    fcc = tool_config.get("functionCallingConfig") or {}
    if fcc.get("mode") == "ANY" and fcc.get("allowedFunctionNames"):
        declared = {d.get("name") for d in decls}
        for i, name in enumerate(fcc["allowedFunctionNames"]):
            if name not in declared:
                raise _bad(f"tool_config.function_calling_config.allowed_function_names[{i}]",
                           f'allowed_function_names contains "{name}", which is not a declared function.')
    own = tokens.prompt_tokens(contents) if cached_tokens else tokens.prompt_tokens(contents, system, tools)
    return GenRequest(
        model=model,
        contents=history,
        system=system,
        declarations=decls,
        mode=fcc.get("mode", "AUTO"),
        allowed=fcc.get("allowedFunctionNames"),
        gen=gen,
        thinking_on=on,
        thinking_cap=cap,
        include_thoughts=include,
        prompt_tokens=own + cached_tokens,
        cached_tokens=cached_tokens,
        builtins=builtin_tools.declared(tools),
        script=directives.script_for(history, {str(d.get("name")) for d in decls}),
    )

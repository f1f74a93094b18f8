"""Deterministic content: what the simulated model answers to a request (see docs/simulator.md)."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from gemini_proxy.simulator import builtin_tools, prompt_schema, schema_instance, signatures, tokens
from gemini_proxy.simulator.request import GenRequest
from gemini_proxy.simulator.scenario import Reply

TRIGGER_PROMPT_BLOCK = "[[sim:block-prompt]]"
TRIGGER_SAFETY = "[[sim:safety]]"
TRIGGER_RECITATION = "[[sim:recitation]]"
CALLS_MESSAGE = "Model generated function call(s)."
CATEGORIES = ("HARM_CATEGORY_HATE_SPEECH", "HARM_CATEGORY_DANGEROUS_CONTENT", "HARM_CATEGORY_HARASSMENT",
              "HARM_CATEGORY_SEXUALLY_EXPLICIT")


@dataclass
class Candidate:
    index: int
    thoughts: list[str] = field(default_factory=list)  # thought-summary texts (thought: true parts)
    text: str | None = None  # the answer text
    calls: list[dict[str, Any]] = field(default_factory=list)  # functionCall parts, whole
    finish: str = "STOP"
    finish_message: str | None = None
    blocked: str | None = None  # "SAFETY" or "RECITATION": candidate without content
    thought_tokens: int = 0
    output_tokens: int = 0
    end_signature: str | None = None  # Gemini 3: signature of the closing text part
    tool_parts: list[dict[str, Any]] = field(default_factory=list)  # executableCode + its result, before the text
    grounding: dict[str, Any] | None = None  # groundingMetadata (googleSearch)
    url_context: dict[str, Any] | None = None  # urlContextMetadata (urlContext)


@dataclass
class Plan:
    model_version: str
    response_id: str
    prompt_tokens: int
    cached_tokens: int
    candidates: list[Candidate]
    prompt_blocked: bool = False
    family: str = "2.5"
    usage: dict[str, Any] | None = None  # a scenario's usageMetadata fields, over the computed ones

    @property
    def output_tokens(self) -> int:
        return sum(c.output_tokens for c in self.candidates)

    @property
    def thought_tokens(self) -> int:
        return sum(c.thought_tokens for c in self.candidates)


def last_user(contents: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Text of the last user content and its functionResponse parts."""
    for content in reversed(contents):
        if content.get("role", "user") == "model":
            continue
        parts = content.get("parts") or []
        text = " ".join(p["text"] for p in parts if isinstance(p.get("text"), str) and not p.get("thought"))
        return text, [p["functionResponse"] for p in parts if "functionResponse" in p]
    return "", []


def system_text(system: dict[str, Any] | None) -> str:
    if not system:
        return ""
    return " ".join(p["text"] for p in system.get("parts") or () if isinstance(p.get("text"), str))


def reply_text(req: GenRequest, user_text: str, responses: list[dict[str, Any]]) -> str:
    sys_text = system_text(req.system)
    prefix = f"[system: {sys_text[:40]}] " if sys_text else ""
    turn = len(req.contents)
    if responses:
        said = "; ".join(
            f"function {r.get('name', '')} returned {orjson.dumps(r.get('response', {})).decode()}" for r in responses
        )
        return f"{prefix}Simulated reply to turn {turn}: {said}"
    return f"{prefix}Simulated reply to turn {turn}: {user_text or '(no text)'}"


def declaration_schema(decl: dict[str, Any]) -> dict[str, Any]:
    if "parametersJsonSchema" in decl:
        return dict(decl["parametersJsonSchema"] or {})
    if "parameters" in decl:
        return schema_instance.gemini_to_json_schema(decl["parameters"])
    return {"type": "object", "properties": {}}


def names_in(name: str, text: str) -> bool:
    """True when `name` is a whole word of `text`: punctuation around it is fine ("Call get_weather.",
    "get_weather: Paris"), but it must not be part of a longer name ("get_weather_v2", "x.get_weather",
    "get_weather.v2", "get-weather-now"): a `.`, `:` or `-` only joins when a word character follows it."""
    if not name:
        return False
    return re.search(rf"(?<!\w)(?<!\w[.:-]){re.escape(name)}(?!\w)(?![.:-]\w)", text) is not None


FINAL_NAME = re.compile(r"final[_\-. ]?(result|answer|output|response)", re.I)
FINAL_DESCRIPTION = re.compile(r"\bfinal (result|answer|output|response)\b", re.I)


def is_final_answer(decl: dict[str, Any]) -> bool:
    """A framework's final-answer tool (pydantic-ai's `final_result`, `final_answer`, ...): its name holds
    final_result/final_answer/final_output/final_response, or its description says "final result" etc."""
    return bool(
        FINAL_NAME.search(str(decl.get("name", ""))) or FINAL_DESCRIPTION.search(str(decl.get("description", "")))
    )


def callable_declarations(req: GenRequest) -> list[dict[str, Any]]:
    if not req.declarations or req.mode == "NONE":
        return []
    if req.mode == "ANY" and req.allowed:
        return [d for d in req.declarations if d.get("name") in req.allowed]
    return req.declarations


def final_answer_call(req: GenRequest, say: str | None) -> list[dict[str, Any]]:
    """The end of a scripted loop in ANY mode, where Gemini always calls a function: the declared
    final-answer tool, with the ``say`` text as its arguments when that is a JSON object, else an
    instance of its schema. No final-answer tool: none (the loop ends with text)."""
    if req.mode != "ANY":
        return []
    for decl in callable_declarations(req):
        if is_final_answer(decl):
            try:
                args = orjson.loads(say) if say else None
            except orjson.JSONDecodeError:
                args = None
            if not isinstance(args, dict):
                args = schema_instance.instance(declaration_schema(decl))
            return [{"name": decl["name"], "args": args}]
    return []


def choose_calls(req: GenRequest, user_text: str, responses: list[dict[str, Any]]) -> list[dict[str, Any]]:
    decls = callable_declarations(req)
    if not decls:
        return []
    named = [d for d in decls if names_in(d.get("name", ""), user_text)]
    if responses:
        # Tool results are back: the loop ends. In ANY mode with a final-answer tool, that tool is
        # called; otherwise (every mode) the reply is text summarising the results.
        chosen = [d for d in decls if is_final_answer(d)][:1] if req.mode == "ANY" else []
    elif req.mode == "ANY":
        chosen = named or decls[:1]
    else:
        chosen = named
    return [{"name": d["name"], "args": schema_instance.instance(declaration_schema(d))} for d in chosen]


def json_text(req: GenRequest, text: str) -> str:
    gen = req.gen
    if gen.get("responseMimeType") == "text/x.enum":
        enum = (gen.get("responseSchema") or {}).get("enum") or (gen.get("responseJsonSchema") or {}).get("enum")
        return str(enum[0]) if isinstance(enum, list) and enum else text
    if "responseJsonSchema" in gen:
        value = schema_instance.instance(gen["responseJsonSchema"])
    elif "responseSchema" in gen:
        value = schema_instance.instance(schema_instance.gemini_to_json_schema(gen["responseSchema"]))
    else:
        value = prompt_json(req, text)
    return orjson.dumps(value).decode()


def prompt_json(req: GenRequest, text: str) -> Any:
    """JSON asked without a schema: an instance of a JSON Schema the prompt holds (``prompt_schema``),
    else ``{"reply": text}``. A prompt's schema too big to answer is not the client's error: the
    usual answer then."""
    schema = prompt_schema.find(req.system, req.contents)
    if schema is not None:
        try:
            return schema_instance.instance(schema)
        except schema_instance.SchemaTooComplex:
            pass
    return {"reply": text}


def cut_at_stop(text: str, stops: list[str]) -> tuple[str, bool]:
    best = -1
    for stop in stops:
        at = text.find(stop) if stop else -1
        if at != -1 and (best == -1 or at < best):
            best = at
    return (text[:best], True) if best != -1 else (text, False)


def plan(req: GenRequest, secret: bytes, response_id: str, reply: Reply | None = None) -> Plan:
    """What the model answers: a scenario's ``reply`` when one matched, else the ``[[sim:...]]`` script
    of the prompt turn, else the deterministic default."""
    if reply is not None:
        return scenario_plan(req, secret, response_id, reply)
    model = req.model
    user_text, responses = last_user(req.contents)
    out = Plan(model.model_version, response_id, req.prompt_tokens, req.cached_tokens, [], family=model.family)
    if TRIGGER_PROMPT_BLOCK in user_text:
        out.prompt_blocked = True
        return out
    gen = req.gen
    max_out = gen.get("maxOutputTokens")
    base = reply_text(req, user_text, responses)
    if req.script is not None:  # scripted: exactly these calls, or the loop ends with the say text
        calls = req.script.calls() or final_answer_call(req, req.script.say)
        if not calls and req.script.say is not None:
            base = req.script.say
    else:
        calls = choose_calls(req, user_text, responses)
    for i in range(int(gen.get("candidateCount", 1))):
        cand = Candidate(index=i)
        out.candidates.append(cand)
        if req.thinking_on:
            cand.thought_tokens = min(req.thinking_cap, 16 + req.prompt_tokens)
            if req.include_thoughts:
                gist = tokens.truncate_words(user_text or "(no text)", 12).strip()
                cand.thoughts = [f"**Reading the request**\n\nTurn {len(req.contents)}: {gist}\n\n",
                                 "**Planning the reply**\n\nAnswering deterministically.\n\n"]
        if req.thinking_on and max_out is not None and cand.thought_tokens >= max_out:
            cand.thought_tokens, cand.thoughts, cand.finish = int(max_out), [], "MAX_TOKENS"
            continue
        if TRIGGER_SAFETY in user_text:
            cand.blocked = cand.finish = "SAFETY"
            continue
        if calls:
            cand.calls = [dict(c) for c in calls]
            cand.output_tokens = sum(tokens.part_tokens({"functionCall": c}) for c in calls)
            if model.thinking:
                cand.finish_message = CALLS_MESSAGE
            if model.is_gemini3 or req.thinking_on:
                first = cand.calls[0]
                cand.calls[0] = {"functionCall": first, "thoughtSignature": signatures.sign_call(
                    secret, first["name"], first["args"])}
            cand.calls = [c if "functionCall" in c else {"functionCall": c} for c in cand.calls]
            continue
        text = base if i == 0 else f"{base} [candidate {i + 1}]"
        if gen.get("responseMimeType") in ("application/json", "text/x.enum"):
            text = json_text(req, text)
        text, _ = cut_at_stop(text, list(gen.get("stopSequences") or []))
        n = tokens.text_tokens(text)
        if max_out is not None and cand.thought_tokens + n > max_out:
            text = tokens.truncate_words(text, int(max_out) - cand.thought_tokens)
            cand.finish = "MAX_TOKENS"
        cand.text = text
        cand.output_tokens = tokens.text_tokens(text)
        if req.builtins:
            use_builtins(req, cand, user_text)
        if TRIGGER_RECITATION in user_text:
            cand.blocked = cand.finish = "RECITATION"
        if model.is_gemini3:
            cand.end_signature = signatures.sign_text(secret, f"{response_id}:{i}")
    return out


def use_builtins(req: GenRequest, cand: Candidate, user_text: str) -> None:
    """What Gemini's built-in tools add to a text answer (see ``builtin_tools``)."""
    on = req.builtins
    if builtin_tools.CODE_TOOL in on:
        cand.tool_parts = builtin_tools.code_parts(user_text)
        cand.output_tokens += sum(tokens.part_tokens(p) for p in cand.tool_parts)
    if on & set(builtin_tools.SEARCH_TOOLS):
        cand.grounding = builtin_tools.grounding(user_text, cand.text or "")
    if builtin_tools.URL_TOOL in on:
        cand.url_context = builtin_tools.url_context(user_text)


def scenario_plan(req: GenRequest, secret: bytes, response_id: str, reply: Reply) -> Plan:
    model = req.model
    out = Plan(model.model_version, response_id, req.prompt_tokens, req.cached_tokens, [], family=model.family,
               usage=reply.usage)
    cand = Candidate(index=0, thoughts=list(reply.thoughts), finish=reply.finish or "STOP")
    out.candidates.append(cand)
    cand.thought_tokens = sum(tokens.text_tokens(t) for t in reply.thoughts)
    if reply.calls:
        calls: list[dict[str, Any]] = [{"functionCall": dict(c)} for c in reply.calls]
        if model.is_gemini3 or req.thinking_on:
            first = reply.calls[0]
            calls[0]["thoughtSignature"] = signatures.sign_call(secret, first["name"], first["args"])
        cand.output_tokens = sum(tokens.part_tokens(c) for c in calls)
        if reply.text:
            calls.insert(0, {"text": reply.text})
            cand.output_tokens += tokens.text_tokens(reply.text)
        cand.calls = calls
        if model.thinking:
            cand.finish_message = CALLS_MESSAGE
        return out
    if reply.text is not None:
        cand.text = reply.text
        cand.output_tokens = tokens.text_tokens(reply.text)
        if model.is_gemini3:
            cand.end_signature = signatures.sign_text(secret, f"{response_id}:0")
    return out


def response_id_for(seed: int, serial: int) -> str:
    digest = hashlib.blake2b(f"{seed}:{serial}".encode(), digest_size=18).digest()
    return base64.urlsafe_b64encode(digest).decode()[:23]

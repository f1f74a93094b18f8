# ruff: noqa: E501  (request/answer tables read best one case per line)
"""Responses request -> Gemini request, table-driven; the echoed parameters; Codex's request."""

from __future__ import annotations

from typing import Any

import pytest

from gemini_proxy.translate.messages import SKIP_SIGNATURE
from gemini_proxy.translate.responses import collect_media_urls, count_tokens_request, input_tokens_response

from ..helpers import assert_valid, load_json
from .helpers import call_of, gem

PNG = "iVBORw0KGgo="
PDF = "JVBERi0xLjQK"
WEATHER = {"type": "function", "name": "weather", "description": "by city", "strict": True,
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                          "additionalProperties": False}}  # fmt: skip
WEATHER_DECL = {"name": "weather", "description": "by city",
                "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"],
                               "propertyOrdering": ["city"]}}  # fmt: skip
NS = {"type": "namespace", "name": "crm", "description": "CRM tools",
      "tools": [{"type": "function", "name": "lookup", "parameters": {"type": "object", "properties": {}}}]}  # fmt: skip
USER = {"role": "user", "content": "hi"}


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "gemini-2.5-flash", "input": [USER], **fields}


def call_item(call_id: str, name: str, args: str = "{}", **extra: Any) -> dict[str, Any]:
    return {"type": "function_call", "call_id": call_id, "name": name, "arguments": args, **extra}


def out_item(call_id: str, output: Any) -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": output}


# (id, request body, expected subset of the Gemini body)
CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("string input", {"model": "gpt-5", "input": "hello"}, {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}),
    ("instructions first in system", body(instructions="be brief", input=[
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "dev"}]}, USER]),
     {"systemInstruction": {"parts": [{"text": "be brief"}, {"text": "dev"}]},
      "contents": [{"role": "user", "parts": [{"text": "hi"}]}]}),
    ("system role message, no type", body(input=[{"role": "system", "content": "sys"}, USER]),
     {"systemInstruction": {"parts": [{"text": "sys"}]}}),
    ("only a system message: sent as the user turn", body(input=[{"role": "system", "content": "sys"}]),
     {"contents": [{"role": "user", "parts": [{"text": "sys"}]}]}),
    ("assistant history and merging", body(input=[
        USER, {"role": "assistant", "content": [{"type": "output_text", "text": "a", "annotations": []}]},
        {"role": "assistant", "content": "b"}, {"role": "user", "content": [{"type": "input_text", "text": "c"}]}]),
     {"contents": [{"role": "user", "parts": [{"text": "hi"}]}, {"role": "model", "parts": [{"text": "a"}, {"text": "b"}]},
                   {"role": "user", "parts": [{"text": "c"}]}]}),
    ("item ids and status accepted", body(input=[{"type": "message", "id": "msg_1", "status": "completed",
                                                  "role": "user", "content": "x"}]),
     {"contents": [{"role": "user", "parts": [{"text": "x"}]}]}),
    ("image data URL", body(input=[{"role": "user", "content": [
        {"type": "input_text", "text": "see"}, {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}",
                                                "detail": "auto"}]}]),
     {"contents": [{"role": "user", "parts": [{"text": "see"}, {"inlineData": {"mimeType": "image/png", "data": PNG}}]}]}),
    ("pdf file_data", body(input=[{"role": "user", "content": [
        {"type": "input_file", "filename": "a.pdf", "file_data": f"data:application/pdf;base64,{PDF}"}]}]),
     {"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "application/pdf", "data": PDF}}]}]}),
    ("pdf raw base64 named by filename", body(input=[{"role": "user", "content": [
        {"type": "input_file", "filename": "a.pdf", "file_data": PDF}]}]),
     {"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "application/pdf", "data": PDF}}]}]}),
    ("tool round trip, results ordered like the calls", body(input=[
        USER, call_item("c1", "a"), call_item("c2", "b", '{"x": 1}'), out_item("c2", "two"), out_item("c1", "one")]),
     {"contents": [{"role": "user", "parts": [{"text": "hi"}]},
                   {"role": "model", "parts": [{"functionCall": {"name": "a", "args": {}}},
                                               {"functionCall": {"name": "b", "args": {"x": 1}}}]},
                   {"role": "user", "parts": [{"functionResponse": {"name": "a", "response": {"output": "one"}}},
                                              {"functionResponse": {"name": "b", "response": {"output": "two"}}}]}]}),
    ("output as content parts with an image", body(input=[USER, call_item("c1", "shot"), out_item("c1", [
        {"type": "input_text", "text": "here"}, {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}"}])]),
     {"contents": [{"role": "user", "parts": [{"text": "hi"}]}, {"role": "model", "parts": [
         {"functionCall": {"name": "shot", "args": {}}}]}, {"role": "user", "parts": [
             {"functionResponse": {"name": "shot", "response": {"output": "here"}}},
             {"inlineData": {"mimeType": "image/png", "data": PNG}}]}]}),
    ("namespaced call in history is flattened", body(tools=[NS], input=[USER, call_item("c1", "lookup", namespace="crm"),
                                                                        out_item("c1", "ok")]),
     {"contents": [{"role": "user", "parts": [{"text": "hi"}]},
                   {"role": "model", "parts": [{"functionCall": {"name": "crm__lookup", "args": {}}}]},
                   {"role": "user", "parts": [{"functionResponse": {"name": "crm__lookup", "response": {"output": "ok"}}}]}]}),
    ("reasoning item without our encrypted_content is skipped", body(input=[
        USER, {"type": "reasoning", "id": "rs_x", "summary": [{"type": "summary_text", "text": "t"}],
               "encrypted_content": "gAAAAABopenai"}, {"role": "assistant", "content": "a"}]),
     {"contents": [{"role": "user", "parts": [{"text": "hi"}]}, {"role": "model", "parts": [{"text": "a"}]}]}),
    ("web_search_call history item skipped", body(input=[USER, {"type": "web_search_call", "id": "ws_1",
                                                               "status": "completed", "action": {"type": "search"}}]),
     {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}),
    ("function tool", body(tools=[WEATHER]), {"tools": [{"functionDeclarations": [WEATHER_DECL]}]}),
    ("namespace flattened", body(tools=[WEATHER, NS]),
     {"tools": [{"functionDeclarations": [WEATHER_DECL, {"name": "crm__lookup"}]}]}),
    ("web_search -> googleSearch", body(tools=[{"type": "web_search"}]), {"tools": [{"googleSearch": {}}]}),
    ("web_search_preview -> googleSearch", body(tools=[WEATHER, {"type": "web_search_preview"}]),
     {"tools": [{"functionDeclarations": [WEATHER_DECL]}, {"googleSearch": {}}]}),
    ("tool_choice required", body(tools=[WEATHER], tool_choice="required"),
     {"toolConfig": {"functionCallingConfig": {"mode": "ANY"}}}),
    ("tool_choice none", body(tools=[WEATHER], tool_choice="none"),
     {"toolConfig": {"functionCallingConfig": {"mode": "NONE"}}}),
    ("tool_choice named", body(tools=[WEATHER], tool_choice={"type": "function", "name": "weather"}),
     {"toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["weather"]}}}),
    ("tool_choice names a namespaced function by its own name", body(tools=[NS], tool_choice={"type": "function",
                                                                                              "name": "lookup"}),
     {"toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["crm__lookup"]}}}),
    ("allowed_tools keeps the listed functions", body(tools=[WEATHER, NS], tool_choice={
        "type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "crm__lookup"}]}),
     {"tools": [{"functionDeclarations": [{"name": "crm__lookup"}]}],
      "toolConfig": {"functionCallingConfig": {"mode": "ANY"}}}),
    ("json_object", body(text={"format": {"type": "json_object"}}),
     {"generationConfig": {"responseMimeType": "application/json"}}),
    ("json_schema strict", body(text={"format": {"type": "json_schema", "name": "city", "strict": True, "schema": {
        "type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"],
        "additionalProperties": False}}}),
     {"generationConfig": {"responseMimeType": "application/json", "responseSchema": {
         "type": "OBJECT", "properties": {"name": {"type": "STRING"}}, "required": ["name"],
         "propertyOrdering": ["name"]}}}),
    ("sampling", body(temperature=0.2, top_p=0.5, max_output_tokens=64),
     {"generationConfig": {"temperature": 0.2, "topP": 0.5, "maxOutputTokens": 64}}),
    ("effort on 2.5 -> budget", body(reasoning={"effort": "low"}),
     {"generationConfig": {"thinkingConfig": {"thinkingBudget": 1024}}}),
    ("effort none on 2.5 Pro -> the minimum", {**body(reasoning={"effort": "none"}), "model": "gemini-2.5-pro"},
     {"generationConfig": {"thinkingConfig": {"thinkingBudget": 128}}}),
    ("effort on 3 -> level, summary -> thoughts", {**body(reasoning={"effort": "high", "summary": "detailed"}),
                                                  "model": "gemini-3-flash-preview"},
     {"generationConfig": {"thinkingConfig": {"thinkingLevel": "HIGH", "includeThoughts": True}}}),
    ("generate_summary (deprecated) works too", body(reasoning={"generate_summary": "concise"}),
     {"generationConfig": {"thinkingConfig": {"includeThoughts": True}}}),
]  # fmt: skip


def _subset(expected: Any, actual: Any, path: str = "") -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict), path
        for key, value in expected.items():
            assert key in actual, f"{path}.{key} missing in {actual}"
            _subset(value, actual[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{path}: {actual}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            _subset(e, a, f"{path}[{i}]")
    else:
        assert expected == actual, path


@pytest.mark.parametrize(("body", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_request(body: dict[str, Any], expected: dict[str, Any]) -> None:
    _subset(expected, gem(body))


def test_nothing_invented() -> None:
    assert gem(body()) == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


@pytest.mark.parametrize("tool", [{"type": "web_search", "external_web_access": False}])
def test_web_search_without_live_access_is_left_out(tool: dict[str, Any]) -> None:
    call = call_of(body(tools=[WEATHER, tool]))
    assert call.gemini_body["tools"] == [{"functionDeclarations": [WEATHER_DECL]}]
    assert call.echo["tools"][1] == tool and call.web_search is False


def test_summary_on_a_model_without_thinking_sends_no_thinking_config() -> None:
    call = call_of({**body(reasoning={"summary": "auto"}), "model": "gemini-2.0-flash"})
    assert "generationConfig" not in call.gemini_body and call.include_thoughts is False


def test_gemini3_history_call_without_signature_gets_the_bypass() -> None:
    contents = gem({**body(input=[USER, call_item("c1", "a"), call_item("c2", "b"), out_item("c1", "1"),
                                  out_item("c2", "2")]), "model": "gemini-3-pro-preview"})["contents"]  # fmt: skip
    first, second = contents[1]["parts"]
    assert first["thoughtSignature"] == SKIP_SIGNATURE and "thoughtSignature" not in second


def test_fetched_media_urls() -> None:
    url, doc = "https://example.com/cat.png", "https://example.com/doc.pdf"
    req = body(input=[{"role": "user", "content": [{"type": "input_image", "image_url": url},
                                                   {"type": "input_file", "file_url": doc}]},
                      call_item("c1", "f"), out_item("c1", [{"type": "input_image", "image_url": url}])])  # fmt: skip
    assert collect_media_urls(req) == [(url, "input[0].content[0].image_url"), (doc, "input[0].content[1].file_url")]
    fetched = {url: ("image/png", PNG), doc: ("application/pdf", PDF)}
    parts = gem(req, fetched_media=fetched)["contents"][0]["parts"]
    assert parts == [{"inlineData": {"mimeType": "image/png", "data": PNG}},
                     {"inlineData": {"mimeType": "application/pdf", "data": PDF}}]  # fmt: skip
    assert collect_media_urls({"input": "text"}) == [] and collect_media_urls(None) == []


# Shaped like what Codex 0.169 sends (openai/codex codex-rs: ToolSpec, ResponsesApiNamespace, ResponseItem).
CODEX = {
    "model": "gemini-3-flash-preview",
    "instructions": "You are Codex, a coding agent.",
    "input": [
        {"type": "message", "id": "msg_dev1", "role": "developer",
         "content": [{"type": "input_text", "text": "<permissions instructions>sandbox: workspace-write</permissions instructions>"}]},
        {"type": "message", "id": "msg_user1", "role": "user",
         "content": [{"type": "input_text", "text": "<environment_context><cwd>/tmp/w</cwd></environment_context>"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "create hello.txt"}]},
    ],
    "tools": [
        {"type": "function", "name": "exec_command", "description": "Runs a command.", "strict": False,
         "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}, "workdir": {"type": "string"}},
                        "required": ["cmd"], "additionalProperties": False}},
        {"type": "function", "name": "update_plan", "description": "Updates the plan.", "strict": False,
         "parameters": {"type": "object", "properties": {"plan": {"type": "array", "items": {
             "type": "object", "properties": {"step": {"type": "string"}, "status": {"type": "string"}},
             "required": ["step", "status"], "additionalProperties": False}}}, "required": ["plan"],
             "additionalProperties": False}},
        {"type": "namespace", "name": "mcp__docs__", "description": "Tools in the mcp__docs__ namespace.",
         "tools": [{"type": "function", "name": "search", "description": "Search the docs.", "strict": False,
                    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"],
                                   "additionalProperties": False}}]},
        {"type": "web_search", "external_web_access": False},
    ],
    "tool_choice": "auto",
    "parallel_tool_calls": True,
    "reasoning": {"summary": "auto"},
    "store": False,
    "stream": True,
    "include": ["reasoning.encrypted_content"],
    "prompt_cache_key": "0198f1c2-thread",
    "client_metadata": {"x-codex-installation-id": "inst-1"},
    "text": {"verbosity": "low"},
}  # fmt: skip


def test_codex_request() -> None:
    # The spec's InputItem is a oneOf that both EasyInputMessage and InputMessage match: the items
    # are checked one by one, the rest of the body as a whole.
    assert_valid("CreateResponse", {k: v for k, v in CODEX.items() if k not in ("client_metadata", "input")})
    for item in CODEX["input"]:
        assert_valid("InputMessage", item)
    call = call_of(CODEX)
    g = call.gemini_body
    assert g["systemInstruction"]["parts"][0] == {"text": "You are Codex, a coding agent."}
    assert g["systemInstruction"]["parts"][1]["text"].startswith("<permissions instructions>")
    assert [p["text"][:12] for p in g["contents"][0]["parts"]] == ["<environment", "create hello"]
    assert [d["name"] for d in g["tools"][0]["functionDeclarations"]] == ["exec_command", "update_plan",
                                                                          "mcp__docs____search"]  # fmt: skip
    assert len(g["tools"]) == 1  # web_search without live access: left out
    assert g["generationConfig"] == {"thinkingConfig": {"includeThoughts": True}}
    assert call.names["mcp__docs____search"] == ("mcp__docs__", "search")
    assert (call.stream, call.store, call.include_encrypted, call.include_thoughts, call.parallel_tool_calls) == (
        True, False, True, True, True)  # fmt: skip
    assert call.echo["prompt_cache_key"] == "0198f1c2-thread" and call.echo["text"]["verbosity"] == "low"


def test_echo_defaults_and_values() -> None:
    e = call_of(body()).echo
    assert (e["tool_choice"], e["temperature"], e["top_p"], e["parallel_tool_calls"], e["store"]) == (
        "auto",
        1.0,
        1.0,
        True,
        True,
    )
    assert e["text"] == {"format": {"type": "text"}, "verbosity": "medium"}
    assert e["reasoning"] == {"effort": None, "summary": None} and e["tools"] == [] and e["metadata"] is None
    e = call_of(body(tools=[WEATHER, NS], temperature=0.3, metadata={"k": "v"}, user="u", truncation="auto",
                     max_output_tokens=100, previous_response_id=None)).echo  # fmt: skip
    assert e["tools"][0] == {**WEATHER, "description": "by city"}
    assert e["tools"][1]["tools"][0] == {"type": "function", "name": "lookup", "description": None,
                                         "parameters": {"type": "object", "properties": {}}, "strict": True}  # fmt: skip
    assert (e["temperature"], e["metadata"], e["user"], e["truncation"], e["max_output_tokens"]) == (
        0.3, {"k": "v"}, "u", "auto", 100)  # fmt: skip


def test_count_tokens_request_and_answer() -> None:
    call = call_of(body(instructions="sys", tools=[WEATHER], temperature=0.5))
    req = count_tokens_request(call)
    assert req == {"generateContentRequest": {"model": "models/gemini-2.5-flash",
                                              "contents": call.gemini_body["contents"],
                                              "systemInstruction": {"parts": [{"text": "sys"}]},
                                              "tools": call.gemini_body["tools"]}}  # fmt: skip
    answer = input_tokens_response(load_json("pai-count-tokens.json"))
    assert answer == {"object": "response.input_tokens", "input_tokens": 12}
    assert_valid("TokenCountsResource", answer)
    from openai.types.responses.input_token_count_response import InputTokenCountResponse

    assert InputTokenCountResponse.model_validate(answer).input_tokens == 12

# ruff: noqa: E501  (the tables keep one case per line group; wrapping them would hide their shape)
"""Anthropic request -> Gemini body, as a table: (id, request, expected subset of the Gemini body)."""

from __future__ import annotations

from typing import Any

import pytest

from gemini_proxy.translate.anthropic import (
    collect_media_urls,
    count_tokens_response,
    missing_signature_tool_ids,
    to_count_tokens_request,
)

from .helpers import PNG, SIG, USER, body, gem, translate

WEATHER = {"name": "weather", "description": "Weather of a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}  # fmt: skip
WEATHER_DECL = {"name": "weather", "description": "Weather of a city",
                "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"],
                               "propertyOrdering": ["city"]}}  # fmt: skip
NOW = {"name": "now", "input_schema": {"type": "object", "properties": {}}}
USE = {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}}
USE2 = {"type": "tool_use", "id": "toolu_2", "name": "now", "input": {}}


def result(tool_id: str, content: Any = "ok", **extra: Any) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": tool_id, "content": content, **extra}


def history(*assistant: dict[str, Any], then: Any) -> list[dict[str, Any]]:
    return [USER, {"role": "assistant", "content": list(assistant)}, {"role": "user", "content": then}]


CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("string content", body(), {"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                                "generationConfig": {"maxOutputTokens": 1024}}),  # fmt: skip
    ("system string", body(system="be brief"), {"systemInstruction": {"parts": [{"text": "be brief"}]}}),
    (
        "system blocks with cache_control",
        body(system=[{"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "b"}]),
        {"systemInstruction": {"parts": [{"text": "a"}, {"text": "b"}]}},
    ),
    (
        "same-role turns merged, empty text dropped",
        body(messages=[USER, {"role": "user", "content": [{"type": "text", "text": ""}, {"type": "text", "text": "x"}]},
                       {"role": "assistant", "content": "yo"}, {"role": "assistant", "content": "!"}]),
        {"contents": [{"role": "user", "parts": [{"text": "hi"}, {"text": "x"}]},
                      {"role": "model", "parts": [{"text": "yo"}, {"text": "!"}]}]},
    ),
    (
        "base64 image",
        body(messages=[{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
            {"type": "text", "text": "what is it"}]}]),
        {"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "image/png", "data": PNG}},
                                                 {"text": "what is it"}]}]},
    ),
    (
        "image and PDF by URL, fetched by the caller",
        body(messages=[{"role": "user", "content": [
            {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
            {"type": "document", "source": {"type": "url", "url": "https://x.test/b.pdf"}}]}]),
        {"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "image/png", "data": PNG}},
                                                 {"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}}]}]},
    ),
    (
        "documents: PDF base64, plain text, content blocks",
        body(messages=[{"role": "user", "content": [
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"},
             "title": "t", "citations": {"enabled": True}},
            {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain"}},
            {"type": "document", "source": {"type": "content", "content": [{"type": "text", "text": "inner"}]}}]}]),
        {"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}},
                                                 {"text": "plain"}, {"text": "inner"}]}]},
    ),
    ("tools through the schema conversion", body(tools=[WEATHER]), {"tools": [{"functionDeclarations": [WEATHER_DECL]}]}),
    (
        "$schema and additionalProperties dropped, empty schema has no parameters",
        body(tools=[{"name": "f", "input_schema": {"$schema": "https://json-schema.org/draft/2020-12/schema",
                                                   "type": "object", "additionalProperties": False,
                                                   "properties": {"a": {"type": "integer"}}}}, NOW]),
        {"tools": [{"functionDeclarations": [
            {"name": "f", "parameters": {"type": "OBJECT", "properties": {"a": {"type": "INTEGER"}},
                                         "propertyOrdering": ["a"]}},
            {"name": "now"}]}]},
    ),
    ("tool_choice auto", body(tools=[WEATHER], tool_choice={"type": "auto"}),
     {"toolConfig": {"functionCallingConfig": {"mode": "AUTO"}}}),
    ("tool_choice any", body(tools=[WEATHER], tool_choice={"type": "any"}),
     {"toolConfig": {"functionCallingConfig": {"mode": "ANY"}}}),
    ("tool_choice none", body(tools=[WEATHER], tool_choice={"type": "none"}),
     {"toolConfig": {"functionCallingConfig": {"mode": "NONE"}}}),
    ("tool_choice tool", body(tools=[WEATHER, NOW], tool_choice={"type": "tool", "name": "now"}),
     {"toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["now"]}}}),
    (
        "server tools",
        body(tools=[{"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
                    {"type": "web_fetch_20250910", "name": "web_fetch"},
                    {"type": "code_execution_20250825", "name": "code_execution"}, WEATHER]),
        {"tools": [{"functionDeclarations": [WEATHER_DECL]}, {"googleSearch": {}}, {"urlContext": {}},
                   {"codeExecution": {}}]},
    ),
    ("deferred tool not loaded: not declared", body(tools=[NOW, {**WEATHER, "defer_loading": True}]),
     {"tools": [{"functionDeclarations": [{"name": "now"}]}]}),
    (
        "deferred tool loaded by a tool_reference",
        body(tools=[NOW, {**WEATHER, "defer_loading": True}], messages=history(
            {"type": "tool_use", "id": "toolu_s", "name": "now", "input": {}},
            then=[result("toolu_s", [{"type": "tool_reference", "tool_name": "weather"}])])),
        {"tools": [{"functionDeclarations": [{"name": "now"}, WEATHER_DECL]}],
         "contents": [{"role": "user", "parts": [{"text": "hi"}]},
                      {"role": "model", "parts": [{"functionCall": {"name": "now", "args": {}}}]},
                      {"role": "user", "parts": [{"functionResponse": {
                          "name": "now", "response": {"output": "Tool weather is now available."}}}]}]},
    ),
    ("deferred tool forced by tool_choice",
     body(tools=[{**WEATHER, "defer_loading": True}], tool_choice={"type": "tool", "name": "weather"}),
     {"tools": [{"functionDeclarations": [WEATHER_DECL]}]}),
    (
        "tool_use -> functionCall, results in the calls' order, is_error, images after their response",
        body(tools=[WEATHER, NOW], messages=history(
            {"type": "text", "text": "calling"}, USE, USE2,
            then=[result("toolu_2", [{"type": "text", "text": "12:00"},
                                     {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                                  "data": PNG}}]),
                  result("toolu_1", "no such city", is_error=True), {"type": "text", "text": "and?"}])),
        {"contents": [
            {"role": "user", "parts": [{"text": "hi"}]},
            {"role": "model", "parts": [{"text": "calling"}, {"functionCall": {"name": "weather", "args": {"city": "Paris"}}},
                                        {"functionCall": {"name": "now", "args": {}}}]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "weather", "response": {"error": "no such city"}}},
                {"functionResponse": {"name": "now", "response": {"output": "12:00"}}},
                {"inlineData": {"mimeType": "image/png", "data": PNG}}, {"text": "and?"}]}]},
    ),
    (
        "a signed thinking block before a tool_use: the call's signature; thinking text as a thought part",
        body(tools=[WEATHER], messages=history(
            {"type": "thinking", "thinking": "hmm", "signature": SIG}, USE, then=[result("toolu_1")])),
        {"contents": [USER_PART := {"role": "user", "parts": [{"text": "hi"}]},
                      {"role": "model", "parts": [{"text": "hmm", "thought": True},
                                                  {"functionCall": {"name": "weather", "args": {"city": "Paris"}},
                                                   "thoughtSignature": SIG}]},
                      {"role": "user", "parts": [{"functionResponse": {"name": "weather", "response": {"output": "ok"}}}]}]},
    ),
    (
        "redacted_thinking carries its data as the signature",
        body(tools=[WEATHER], messages=history({"type": "redacted_thinking", "data": SIG}, USE, then=[result("toolu_1")])),
        {"contents": [USER_PART, {"role": "model", "parts": [
            {"functionCall": {"name": "weather", "args": {"city": "Paris"}}, "thoughtSignature": SIG}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "weather", "response": {"output": "ok"}}}]}]},
    ),
    (
        "text signature after the text goes back on it; old turns' thinking text dropped",
        body(messages=[USER, {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "old thoughts", "signature": ""}, {"type": "text", "text": "hello"},
            {"type": "thinking", "thinking": "", "signature": SIG}]}, {"role": "user", "content": "more"}]),
        {"contents": [USER_PART, {"role": "model", "parts": [{"text": "hello", "thoughtSignature": SIG}]},
                      {"role": "user", "parts": [{"text": "more"}]}]},
    ),
    (
        "remembered signature by tool_use id",
        {**body(tools=[WEATHER], messages=history(USE, then=[result("toolu_1")])), "_signatures": {"toolu_1": SIG}},
        {"contents": [USER_PART, {"role": "model", "parts": [
            {"functionCall": {"name": "weather", "args": {"city": "Paris"}}, "thoughtSignature": SIG}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "weather", "response": {"output": "ok"}}}]}]},
    ),
    (
        "Gemini 3: a call without any signature gets the bypass value",
        {**body(tools=[WEATHER], messages=history(USE, then=[result("toolu_1")])), "model": "gemini-3-flash-preview"},
        {"contents": [USER_PART, {"role": "model", "parts": [
            {"functionCall": {"name": "weather", "args": {"city": "Paris"}},
             "thoughtSignature": "skip_thought_signature_validator"}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "weather", "response": {"output": "ok"}}}]}]},
    ),
    (
        "server tool blocks in the history are not sent back",
        body(messages=[USER, {"role": "assistant", "content": [
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "q"}},
            {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
            {"type": "text", "text": "found", "citations": None}]}]),
        {"contents": [USER_PART, {"role": "model", "parts": [{"text": "found"}]}]},
    ),
    ("sampling as given", body(temperature=0.5, top_p=0.9, top_k=40, stop_sequences=["END", ""]),
     {"generationConfig": {"maxOutputTokens": 1024, "temperature": 0.5, "topP": 0.9, "topK": 40,
                           "stopSequences": ["END"]}}),  # fmt: skip
    (
        "ignored fields",
        body(metadata={"user_id": "u1"}, context_management={"edits": []}, service_tier="auto",
             cache_control={"type": "ephemeral"}, container=None, inference_geo="us"),
        {"contents": [USER_PART], "generationConfig": {"maxOutputTokens": 1024}},
    ),
    ("structured output", body(output_config={"format": {"type": "json_schema", "schema": {
        "type": "object", "properties": {"a": {"type": "string"}}}}}),
     {"generationConfig": {"maxOutputTokens": 1024, "responseMimeType": "application/json", "responseSchema": {
         "type": "OBJECT", "properties": {"a": {"type": "STRING"}}, "propertyOrdering": ["a"]}}}),
    ("claude name through the table", {**body(), "model": "claude-haiku-4-5-20251001"}, {}),
]  # fmt: skip

THINKING: list[tuple[str, str, dict[str, Any], dict[str, Any] | None, bool]] = [
    # (id, model, request fields, thinkingConfig without includeThoughts, include_thoughts)
    ("enabled 2.5 flash", "gemini-2.5-flash", {"thinking": {"type": "enabled", "budget_tokens": 2048}},
     {"thinkingBudget": 2048}, True),
    ("enabled 2.5 flash capped", "gemini-2.5-flash", {"thinking": {"type": "enabled", "budget_tokens": 31999}},
     {"thinkingBudget": 24576}, True),
    ("enabled 2.5 pro", "gemini-2.5-pro", {"thinking": {"type": "enabled", "budget_tokens": 31999}},
     {"thinkingBudget": 31999}, True),
    ("enabled gemini 3 low", "gemini-3-flash-preview", {"thinking": {"type": "enabled", "budget_tokens": 1024}},
     {"thinkingLevel": "LOW"}, True),
    ("enabled gemini 3 medium", "gemini-3-flash-preview", {"thinking": {"type": "enabled", "budget_tokens": 4000}},
     {"thinkingLevel": "MEDIUM"}, True),
    ("enabled gemini 3 high", "gemini-3.1-pro-preview", {"thinking": {"type": "enabled", "budget_tokens": 31999}},
     {"thinkingLevel": "HIGH"}, True),
    ("display omitted", "gemini-2.5-flash",
     {"thinking": {"type": "enabled", "budget_tokens": 2048, "display": "omitted"}}, {"thinkingBudget": 2048}, False),
    ("disabled 2.5 flash", "gemini-2.5-flash", {"thinking": {"type": "disabled"}}, {"thinkingBudget": 0}, False),
    ("disabled 2.5 pro", "gemini-2.5-pro", {"thinking": {"type": "disabled"}}, {"thinkingBudget": 128}, False),
    ("disabled gemini 3 flash", "gemini-3-flash-preview", {"thinking": {"type": "disabled"}},
     {"thinkingLevel": "MINIMAL"}, False),
    ("disabled gemini 3 pro", "gemini-3.1-pro-preview", {"thinking": {"type": "disabled"}},
     {"thinkingLevel": "LOW"}, False),
    ("adaptive 2.5: dynamic", "gemini-2.5-flash", {"thinking": {"type": "adaptive"}}, {"thinkingBudget": -1}, True),
    ("adaptive gemini 3: its default", "gemini-3-flash-preview", {"thinking": {"type": "adaptive"}}, {}, True),
    ("adaptive + effort low, 2.5", "gemini-2.5-flash",
     {"thinking": {"type": "adaptive"}, "output_config": {"effort": "low"}}, {"thinkingBudget": 1024}, True),
    ("adaptive + effort medium, 3.0 pro (low/high only)", "gemini-3-pro-preview",
     {"thinking": {"type": "adaptive"}, "output_config": {"effort": "medium"}}, {"thinkingLevel": "HIGH"}, True),
    ("effort max without thinking", "gemini-2.5-pro", {"output_config": {"effort": "max"}},
     {"thinkingBudget": 32768}, False),
    ("absent: nothing", "gemini-2.5-flash", {}, None, False),
    ("other family: no thinking config", "gemini-2.0-flash", {"thinking": {"type": "enabled", "budget_tokens": 2048}},
     None, False),
]  # fmt: skip


def _subset(expected: Any, got: Any, path: str = "") -> None:
    if isinstance(expected, dict):
        assert isinstance(got, dict), path
        for key, value in expected.items():
            assert key in got, f"{path}.{key} missing in {got}"
            _subset(value, got[key], f"{path}.{key}")
    else:
        assert got == expected, f"{path}: {got!r} != {expected!r}"


FETCHED = {"https://x.test/a.png": ("image/png", PNG), "https://x.test/b.pdf": ("application/pdf", "JVBE")}


@pytest.mark.parametrize(("request_body", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_request(request_body: dict[str, Any], expected: dict[str, Any]) -> None:
    request_body = dict(request_body)
    signatures = request_body.pop("_signatures", {})
    _subset(expected, gem(request_body, fetched_media=FETCHED, signatures=signatures))


@pytest.mark.parametrize(("model", "fields", "config", "include"), [t[1:] for t in THINKING], ids=[t[0] for t in THINKING])
def test_thinking(model: str, fields: dict[str, Any], config: dict[str, Any] | None, include: bool) -> None:
    call = translate({**body(), "model": model, **fields})
    got = dict(call.gemini_body["generationConfig"].get("thinkingConfig") or {})
    assert got.pop("includeThoughts", False) is include
    assert got == (config or {})
    assert call.include_thoughts is include


def test_call_facts() -> None:
    call = translate({**body(tools=[WEATHER, {"type": "web_search_20250305", "name": "web_search"}],
                             tool_choice={"type": "auto", "disable_parallel_tool_use": True}),
                      "model": "claude-opus-4-8", "stream": True})  # fmt: skip
    assert (call.model, call.requested_model, call.stream) == ("gemini-2.5-pro", "claude-opus-4-8", True)
    assert call.parallel_tool_use is False and call.server_tools == {"web_search"}


def test_media_urls_listed_with_their_field() -> None:
    request_body = body(messages=[
        {"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}}]},
        {"role": "assistant", "content": [USE]},
        {"role": "user", "content": [result("toolu_1", [
            {"type": "image", "source": {"type": "url", "url": "https://x.test/c.png"}},
            {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}}]),
            {"type": "document", "source": {"type": "url", "url": "http://x.test/b.pdf"}}]},
    ])  # fmt: skip
    assert collect_media_urls(request_body) == [
        ("https://x.test/a.png", "messages[0].content[0].source.url"),
        ("https://x.test/c.png", "messages[2].content[0].content[0].source.url"),
        ("http://x.test/b.pdf", "messages[2].content[1].source.url"),
    ]
    assert collect_media_urls({"messages": "nope"}) == [] and collect_media_urls(None) == []


def test_missing_signature_ids() -> None:
    request_body = body(messages=history({"type": "thinking", "thinking": "", "signature": SIG}, USE, USE2,
                                         then=[result("toolu_1"), result("toolu_2")]))  # fmt: skip
    assert missing_signature_tool_ids(request_body) == ["toolu_2"]
    assert missing_signature_tool_ids({"messages": [1, {"role": "assistant", "content": "x"}]}) == []


def test_count_tokens_body() -> None:
    request_body = {"model": "claude-sonnet-4-5", "system": "sys", "messages": [USER], "tools": [WEATHER],
                    "thinking": {"type": "enabled", "budget_tokens": 2048}}  # fmt: skip
    counted = to_count_tokens_request(request_body, claude_models={"sonnet": "gemini-2.5-flash"}, aliases={},
                                      signatures={}, fetched_media={})  # fmt: skip
    assert counted.model == "gemini-2.5-flash"
    assert counted.gemini_body == {"generateContentRequest": {
        "model": "models/gemini-2.5-flash", "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "systemInstruction": {"parts": [{"text": "sys"}]}, "tools": [{"functionDeclarations": [WEATHER_DECL]}]}}
    assert count_tokens_response({"totalTokens": 12, "promptTokensDetails": []}) == {"input_tokens": 12}
    assert count_tokens_response({}) == {"input_tokens": 0}

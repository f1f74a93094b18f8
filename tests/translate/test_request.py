"""OpenAI Chat Completions request -> Gemini GenerateContentRequest: one row per mapping rule."""

from __future__ import annotations

from typing import Any

import pytest

from gemini_proxy.errors import InvalidRequest
from gemini_proxy.translate import (
    IGNORED_PARAMS,
    collect_media_urls,
    error_to_openai,
    missing_signature_call_ids,
    to_gemini_request,
)

from .helpers import assert_valid

ALIASES = {"gpt-4o": "gemini-2.5-flash", "fast": "models/gemini-2.5-flash-lite"}
PNG = "iVBORw0KGgo="
USER = {"role": "user", "content": "hi"}


def translate(body: dict[str, Any], **kw: Any) -> Any:
    return to_gemini_request(
        body,
        aliases=ALIASES,
        default_model=kw.pop("default_model", "gemini-2.5-flash"),
        signatures=kw.pop("signatures", {}),
        fetched_media=kw.pop("fetched_media", {}),
    )


def gem(body: dict[str, Any], **kw: Any) -> dict[str, Any]:
    result: dict[str, Any] = translate(body, **kw).gemini_body
    return result


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "gemini-2.5-flash", "messages": [USER], **fields}


def call_msg(*calls: tuple[str, str, str], content: Any = None, **extra: Any) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": content,
        "tool_calls": [{"id": i, "type": "function", "function": {"name": n, "arguments": a}} for i, n, a in calls],
        **extra,
    }


WEATHER = {"type": "function", "function": {"name": "weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}  # fmt: skip
TIME = {"type": "function", "function": {"name": "now", "description": "current time"}}

# (id, request body, expected subset of the Gemini body)
MAPPING: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("plain user string", body(), {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}),
    (
        "multi-turn roles, never concatenated",
        body(messages=[USER, {"role": "assistant", "content": "hello"}, {"role": "user", "content": "again"}]),
        {"contents": [{"role": "user", "parts": [{"text": "hi"}]}, {"role": "model", "parts": [{"text": "hello"}]},
                      {"role": "user", "parts": [{"text": "again"}]}]},
    ),  # fmt: skip
    (
        "consecutive same-role turns merged",
        body(messages=[USER, {"role": "user", "content": [{"type": "text", "text": "more"}], "name": "bob"}]),
        {"contents": [{"role": "user", "parts": [{"text": "hi"}, {"text": "more"}]}]},
    ),
    (
        "system and developer -> systemInstruction in order",
        body(messages=[{"role": "system", "content": "be brief"}, USER,
                       {"role": "developer", "content": [{"type": "text", "text": "be kind"}]}]),
        {"systemInstruction": {"parts": [{"text": "be brief"}, {"text": "be kind"}]},
         "contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    ),  # fmt: skip
    (
        "only a system message is sent as the user turn",
        body(messages=[{"role": "system", "content": "say hi"}]),
        {"contents": [{"role": "user", "parts": [{"text": "say hi"}]}]},
    ),
    (
        "image data URL -> inlineData",
        body(messages=[{"role": "user", "content": [
            {"type": "text", "text": "what?"}, {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]}]),
        {"contents": [{"role": "user", "parts": [{"text": "what?"}, {"inlineData": {"mimeType": "image/png", "data": PNG}}]}]},
    ),  # fmt: skip
    (
        "input_audio mp3 -> audio/mp3",
        body(messages=[{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AAA=", "format": "mp3"}}]}]),
        {"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "audio/mp3", "data": "AAA="}}]}]},
    ),  # fmt: skip
    (
        "input_audio wav -> audio/wav",
        body(messages=[{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AAA=", "format": "wav"}}]}]),
        {"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "audio/wav", "data": "AAA="}}]}]},
    ),  # fmt: skip
    (
        "file with data URL -> inlineData pdf",
        body(messages=[{"role": "user", "content": [
            {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"}}]}]),
        {"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}}]}]},
    ),  # fmt: skip
    (
        "file with bare base64 -> mime from filename",
        body(messages=[{"role": "user", "content": [{"type": "file", "file": {"file_data": "JVBE", "filename": "r.PDF"}}]}]),
        {"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}}]}]},
    ),  # fmt: skip
    (
        "assistant text + tool_calls -> text then functionCall parts; tool results one user turn in call order",
        body(messages=[
            USER,
            call_msg(("c1", "weather", '{"city":"Paris"}'), ("c2", "now", ""), content="Let me check."),
            {"role": "tool", "tool_call_id": "c2", "content": "12:00"},
            {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "sunny"}]},
        ], tools=[WEATHER, TIME]),
        {"contents": [
            {"role": "user", "parts": [{"text": "hi"}]},
            {"role": "model", "parts": [{"text": "Let me check."},
                                        {"functionCall": {"name": "weather", "args": {"city": "Paris"}}},
                                        {"functionCall": {"name": "now", "args": {}}}]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "weather", "response": {"output": "sunny"}}},
                {"functionResponse": {"name": "now", "response": {"output": "12:00"}}}]},
        ]},
    ),  # fmt: skip
    (
        "legacy function_call + function role",
        body(messages=[USER, {"role": "assistant", "content": None, "function_call": {"name": "now", "arguments": "{}"}},
                       {"role": "function", "name": "now", "content": "noon"}]),
        {"contents": [{"role": "user", "parts": [{"text": "hi"}]},
                      {"role": "model", "parts": [{"functionCall": {"name": "now", "args": {}}}]},
                      {"role": "user", "parts": [{"functionResponse": {"name": "now", "response": {"output": "noon"}}}]}]},
    ),  # fmt: skip
    (
        "tools -> one functionDeclarations entry; no-parameter function has no parameters key",
        body(tools=[WEATHER, TIME]),
        {"tools": [{"functionDeclarations": [
            {"name": "weather", "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}},
                                               "required": ["city"], "propertyOrdering": ["city"]}},
            {"name": "now", "description": "current time"}]}]},
    ),  # fmt: skip
    (
        "empty-object parameters -> no parameters key",
        body(tools=[{"type": "function", "function": {"name": "ping", "parameters": {"type": "object", "properties": {}}}}]),
        {"tools": [{"functionDeclarations": [{"name": "ping"}]}]},
    ),  # fmt: skip
    (
        "legacy functions",
        body(functions=[{"name": "now"}], function_call={"name": "now"}),
        {"tools": [{"functionDeclarations": [{"name": "now"}]}],
         "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["now"]}}},
    ),  # fmt: skip
    ("tool_choice none", body(tools=[TIME], tool_choice="none"), {"toolConfig": {"functionCallingConfig": {"mode": "NONE"}}}),
    ("tool_choice auto", body(tools=[TIME], tool_choice="auto"), {"toolConfig": {"functionCallingConfig": {"mode": "AUTO"}}}),
    ("tool_choice required", body(tools=[TIME], tool_choice="required"),
     {"toolConfig": {"functionCallingConfig": {"mode": "ANY"}}}),
    (
        "tool_choice named function",
        body(tools=[TIME, WEATHER], tool_choice={"type": "function", "function": {"name": "weather"}}),
        {"toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["weather"]}}},
    ),
    ("temperature", body(temperature=0.2), {"generationConfig": {"temperature": 0.2}}),
    ("top_p", body(top_p=0.9), {"generationConfig": {"topP": 0.9}}),
    ("seed", body(seed=42), {"generationConfig": {"seed": 42}}),
    ("presence_penalty", body(presence_penalty=0.5), {"generationConfig": {"presencePenalty": 0.5}}),
    ("frequency_penalty", body(frequency_penalty=-0.5), {"generationConfig": {"frequencyPenalty": -0.5}}),
    ("n", body(n=3), {"generationConfig": {"candidateCount": 3}}),
    ("stop string", body(stop="END"), {"generationConfig": {"stopSequences": ["END"]}}),
    ("stop list", body(stop=["a", "b"]), {"generationConfig": {"stopSequences": ["a", "b"]}}),
    ("max_tokens", body(max_tokens=100), {"generationConfig": {"maxOutputTokens": 100}}),
    ("max_completion_tokens wins", body(max_tokens=100, max_completion_tokens=50),
     {"generationConfig": {"maxOutputTokens": 50}}),
    ("logprobs", body(logprobs=True, top_logprobs=3), {"generationConfig": {"responseLogprobs": True, "logprobs": 3}}),
    ("response_format text", body(response_format={"type": "text"}), {}),
    ("response_format json_object", body(response_format={"type": "json_object"}),
     {"generationConfig": {"responseMimeType": "application/json"}}),
    (
        "response_format json_schema -> responseSchema via the sanitizer",
        body(response_format={"type": "json_schema", "json_schema": {"name": "x", "strict": True, "schema": {
            "type": "object", "title": "X", "additionalProperties": False,
            "properties": {"a": {"type": ["integer", "null"]}}, "required": ["a"]}}}),
        {"generationConfig": {"responseMimeType": "application/json", "responseSchema": {
            "type": "OBJECT", "properties": {"a": {"type": "INTEGER", "nullable": True}},
            "required": ["a"], "propertyOrdering": ["a"]}}},
    ),  # fmt: skip
    (
        "response_format recursive json_schema -> responseJsonSchema",
        body(response_format={"type": "json_schema", "json_schema": {"name": "t", "schema": {
            "$schema": "https://json-schema.org/draft/2020-12/schema", "$ref": "#/$defs/node",
            "$defs": {"node": {"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}}}}}),
        {"generationConfig": {"responseMimeType": "application/json", "responseJsonSchema": {
            "$ref": "#/$defs/node",
            "$defs": {"node": {"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}}}}},
    ),  # fmt: skip
    ("reasoning_effort low on 2.5 flash", body(reasoning_effort="low"),
     {"generationConfig": {"thinkingConfig": {"thinkingBudget": 1024}}}),
    ("reasoning_effort medium on 2.5", body(reasoning_effort="medium"),
     {"generationConfig": {"thinkingConfig": {"thinkingBudget": 8192}}}),
    ("reasoning_effort high on 2.5", body(reasoning_effort="high"),
     {"generationConfig": {"thinkingConfig": {"thinkingBudget": 24576}}}),
    ("reasoning_effort none on 2.5 flash -> 0", body(reasoning_effort="none"),
     {"generationConfig": {"thinkingConfig": {"thinkingBudget": 0}}}),
    ("reasoning_effort none on 2.5 pro -> lowest budget", body(model="gemini-2.5-pro", reasoning_effort="none"),
     {"generationConfig": {"thinkingConfig": {"thinkingBudget": 128}}}),
    ("reasoning_effort max on 2.5 pro -> top budget", body(model="gemini-2.5-pro", reasoning_effort="max"),
     {"generationConfig": {"thinkingConfig": {"thinkingBudget": 32768}}}),
    ("reasoning_effort minimal on 3 flash", body(model="gemini-3-flash-preview", reasoning_effort="minimal"),
     {"generationConfig": {"thinkingConfig": {"thinkingLevel": "MINIMAL"}}}),
    ("reasoning_effort xhigh on 3 flash", body(model="gemini-3-flash-preview", reasoning_effort="xhigh"),
     {"generationConfig": {"thinkingConfig": {"thinkingLevel": "HIGH"}}}),
    ("reasoning_effort none on 3.1 pro -> LOW", body(model="gemini-3.1-pro-preview", reasoning_effort="none"),
     {"generationConfig": {"thinkingConfig": {"thinkingLevel": "LOW"}}}),
    ("reasoning_effort medium on 3.1 pro", body(model="gemini-3.1-pro-preview", reasoning_effort="medium"),
     {"generationConfig": {"thinkingConfig": {"thinkingLevel": "MEDIUM"}}}),
    ("reasoning_effort medium on 3.0 pro -> HIGH", body(model="gemini-3-pro-preview", reasoning_effort="medium"),
     {"generationConfig": {"thinkingConfig": {"thinkingLevel": "HIGH"}}}),
    (
        "google extension at top level",
        body(google={"thinking_config": {"thinking_budget": 2048, "include_thoughts": True},
                     "safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
                     "cached_content": "cachedContents/abc"}),
        {"generationConfig": {"thinkingConfig": {"thinkingBudget": 2048, "includeThoughts": True}},
         "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
         "cachedContent": "cachedContents/abc"},
    ),  # fmt: skip
    (
        "google extension under extra_body",
        body(model="gemini-3-flash-preview", extra_body={"google": {"thinking_config": {"thinking_level": "low"}}}),
        {"generationConfig": {"thinkingConfig": {"thinkingLevel": "LOW"}}},
    ),
    (
        "include_thoughts combines with reasoning_effort",
        body(reasoning_effort="high", google={"thinking_config": {"include_thoughts": True}}),
        {"generationConfig": {"thinkingConfig": {"includeThoughts": True, "thinkingBudget": 24576}}},
    ),
]


def _subset(expected: Any, actual: Any, path: str = "") -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict), path
        for key, value in expected.items():
            assert key in actual, f"{path}.{key} missing in {actual}"
            _subset(value, actual[key], f"{path}.{key}")
    else:
        assert expected == actual, path


@pytest.mark.parametrize(("request_body", "expected"), [(b, e) for _, b, e in MAPPING], ids=[i for i, _, _ in MAPPING])
def test_mapping(request_body: dict[str, Any], expected: dict[str, Any]) -> None:
    _subset(expected, gem(request_body))


def test_nothing_invented() -> None:
    """What the client did not send stays absent."""
    assert gem(body()) == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def test_ignored_params_are_accepted() -> None:
    assert {"user", "store", "metadata", "service_tier", "logit_bias", "prediction", "modalities", "safety_identifier",
            "prompt_cache_key", "verbosity", "web_search_options"} <= IGNORED_PARAMS  # fmt: skip
    noisy = body(**{name: "x" for name in IGNORED_PARAMS}, brand_new_param={"a": 1})
    assert gem(noisy) == gem(body())


def test_chat_call_facts() -> None:
    call = translate(body(model="gpt-4o", stream=True, stream_options={"include_usage": True}, n=2,
                          parallel_tool_calls=False, google={"thinking_config": {"include_thoughts": True}}))  # fmt: skip
    assert (call.model, call.requested_model, call.stream, call.include_usage, call.include_thoughts, call.n) == (
        "gemini-2.5-flash", "gpt-4o", True, True, True, 2)  # fmt: skip
    assert call.parallel_tool_calls is False and call.legacy_functions is False
    assert translate(body(functions=[{"name": "now"}])).legacy_functions is True
    default = translate({"messages": [USER]}, default_model="gemini-2.0-flash")
    assert (default.model, default.requested_model, default.n, default.stream) == (
        "gemini-2.0-flash", "gemini-2.0-flash", 1, False)  # fmt: skip


def test_http_image_comes_from_fetched_media() -> None:
    url = "https://example.com/cat.png"
    request = body(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}])
    assert collect_media_urls(request) == [url]
    parts = gem(request, fetched_media={url: ("image/png", PNG)})["contents"][0]["parts"]
    assert parts == [{"inlineData": {"mimeType": "image/png", "data": PNG}}]


def test_collect_media_urls_is_tolerant_and_deduplicated() -> None:
    assert collect_media_urls([]) == [] and collect_media_urls({"messages": "x"}) == []
    part = {"type": "image_url", "image_url": {"url": "http://a/x.png"}}
    data = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}
    assert collect_media_urls({"messages": [{"role": "user", "content": [part, data, part]}, 3]}) == ["http://a/x.png"]


SIG = "c2lnbmF0dXJl"


def test_thought_signatures_round_trip() -> None:
    history = [
        USER,
        call_msg(("c1", "now", "{}"), ("c2", "now", "{}")),
        {"role": "tool", "tool_call_id": "c1", "content": "a"},
        {"role": "tool", "tool_call_id": "c2", "content": "b"},
    ]
    history[1]["tool_calls"][0]["extra_content"] = {"google": {"thought_signature": SIG}}
    request = body(model="gemini-3-flash-preview", messages=history)
    assert missing_signature_call_ids(request) == ["c2"]
    parts = gem(request, signatures={"c2": "c3RvcmU="})["contents"][1]["parts"]
    assert [p.get("thoughtSignature") for p in parts] == [SIG, "c3RvcmU="]


def test_signature_from_store() -> None:
    request = body(model="gemini-3-flash-preview",
                   messages=[USER, call_msg(("c1", "now", "{}")), {"role": "tool", "tool_call_id": "c1", "content": "x"}])  # fmt: skip
    assert gem(request, signatures={"c1": SIG})["contents"][1]["parts"][0]["thoughtSignature"] == SIG


@pytest.mark.parametrize(
    ("model", "expected"),
    [("gemini-3-flash-preview", ["skip_thought_signature_validator", None]), ("gemini-2.5-flash", [None, None])],
)
def test_signature_bypass_only_on_first_call_of_gemini3_turn(model: str, expected: list[str | None]) -> None:
    history = [USER, call_msg(("c1", "now", "{}"), ("c2", "now", "{}")),
               {"role": "tool", "tool_call_id": "c1", "content": "a"}, {"role": "tool", "tool_call_id": "c2", "content": "b"}]  # fmt: skip
    parts = gem(body(model=model, messages=history))["contents"][1]["parts"]
    assert [p.get("thoughtSignature") for p in parts] == expected


def test_message_level_signature_goes_back_on_last_text_part() -> None:
    msg = {"role": "assistant", "content": "Hello", "extra_content": {"google": {"thought_signature": SIG}}}
    parts = gem(body(messages=[USER, msg, {"role": "user", "content": "x"}]))["contents"][1]["parts"]
    assert parts == [{"text": "Hello", "thoughtSignature": SIG}]


def test_model_resolution_in_request() -> None:
    assert translate(body(model="fast")).model == "gemini-2.5-flash-lite"
    assert translate(body(model="models/gemini-2.5-pro")).model == "gemini-2.5-pro"
    assert translate(body(model="google/gemini-2.5-pro")).requested_model == "google/gemini-2.5-pro"


# (id, request body, expected param)
BAD: list[tuple[str, Any, str | None]] = [
    ("body not an object", [], None),
    ("missing messages", {"model": "gemini-2.5-flash"}, "messages"),
    ("empty messages", body(messages=[]), "messages"),
    ("message not an object", body(messages=["hi"]), "messages[0]"),
    ("unknown role", body(messages=[{"role": "robot", "content": "x"}]), "messages[0].role"),
    ("content not string or list", body(messages=[{"role": "user", "content": 5}]), "messages[0].content"),
    ("unknown part type", body(messages=[{"role": "user", "content": [{"type": "video", "video": {}}]}]),
     "messages[0].content[0].type"),
    ("image part in system", body(messages=[{"role": "system", "content": [{"type": "image_url"}]}, USER]),
     "messages[0].content[0].type"),
    ("malformed image data URL", body(messages=[{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png,notbase64"}}]}]), "messages[0].content[0].image_url"),
    ("image URL not fetched", body(messages=[{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]), "messages[0].content[0].image_url"),
    ("image URL bad scheme", body(messages=[{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}]}]), "messages[0].content[0].image_url"),
    ("audio bad format", body(messages=[{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "AA==", "format": "midi"}}]}]),
     "messages[0].content[0].input_audio.format"),
    ("file_id unsupported", body(messages=[{"role": "user", "content": [{"type": "file", "file": {"file_id": "f"}}]}]),
     "messages[0].content[0].file.file_id"),
    ("tool message without matching call", body(messages=[USER, {"role": "tool", "tool_call_id": "nope", "content": "x"}]),
     "messages[1].tool_call_id"),
    ("tool call arguments invalid JSON", body(messages=[USER, call_msg(("c1", "now", "{bad"))]),
     "messages[1].tool_calls[0].function.arguments"),
    ("tool call arguments not an object", body(messages=[USER, call_msg(("c1", "now", "[1]"))]),
     "messages[1].tool_calls[0].function.arguments"),
    ("tool call without id", body(messages=[USER, call_msg(("", "now", "{}"))]), "messages[1].tool_calls[0].id"),
    ("n zero", body(n=0), "n"),
    ("n not int", body(n=1.5), "n"),
    ("n bool", body(n=True), "n"),
    ("temperature not a number", body(temperature="hot"), "temperature"),
    ("temperature out of range", body(temperature=3), "temperature"),
    ("top_p not a number", body(top_p=[1]), "top_p"),
    ("seed not int", body(seed="1"), "seed"),
    ("max_tokens zero", body(max_tokens=0), "max_tokens"),
    ("max_completion_tokens not int", body(max_completion_tokens="9"), "max_completion_tokens"),
    ("stop too many", body(stop=["a", "b", "c", "d", "e"]), "stop"),
    ("stop wrong type", body(stop=5), "stop"),
    ("top_logprobs out of range", body(logprobs=True, top_logprobs=21), "top_logprobs"),
    ("stream not bool", body(stream="yes"), "stream"),
    ("stream_options not object", body(stream=True, stream_options=True), "stream_options"),
    ("stream_options.include_usage not bool", body(stream=True, stream_options={"include_usage": "y"}),
     "stream_options.include_usage"),
    ("tool_choice unknown string", body(tools=[TIME], tool_choice="sometimes"), "tool_choice"),
    ("tool_choice unknown function", body(tools=[TIME], tool_choice={"type": "function", "function": {"name": "x"}}),
     "tool_choice"),
    ("tool_choice required without tools", body(tool_choice="required"), "tool_choice"),
    ("tool type unsupported", body(tools=[{"type": "custom", "custom": {"name": "x"}}]), "tools[0].type"),
    ("function name invalid", body(tools=[{"type": "function", "function": {"name": "1 bad"}}]),
     "tools[0].function.name"),
    ("duplicate function", body(tools=[TIME, TIME]), "tools[1].function.name"),
    ("schema ref unresolvable", body(tools=[{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}}}}]), "tools[0].function.parameters"),
    ("response_format not object", body(response_format="json"), "response_format"),
    ("response_format unknown type", body(response_format={"type": "xml"}), "response_format.type"),
    ("response_format json_schema missing", body(response_format={"type": "json_schema"}),
     "response_format.json_schema"),
    ("reasoning_effort unknown", body(reasoning_effort="extreme"), "reasoning_effort"),
    ("reasoning_effort with google thinking budget", body(reasoning_effort="low",
     google={"thinking_config": {"thinking_budget": 10}}), "reasoning_effort"),
    ("reasoning_effort with extra_body thinking level", body(reasoning_effort="low",
     extra_body={"google": {"thinking_config": {"thinking_level": "low"}}}), "reasoning_effort"),
    ("google not object", body(google="x"), "google"),
    ("thinking budget and level together", body(google={"thinking_config": {"thinking_budget": 1, "thinking_level": "low"}}),
     "google.thinking_config"),
    ("safety settings malformed", body(google={"safety_settings": [{"category": 1}]}), "google.safety_settings"),
    ("model missing without default", {"messages": [USER]}, "model"),
    ("model name unsafe for URL", body(model="gemini/../x"), "model"),
    ("parallel_tool_calls not bool", body(parallel_tool_calls="no"), "parallel_tool_calls"),
]  # fmt: skip


@pytest.mark.parametrize(("request_body", "param"), [(b, p) for _, b, p in BAD], ids=[i for i, _, _ in BAD])
def test_bad_input_is_400_with_param(request_body: Any, param: str | None) -> None:
    default = None if param == "model" else "gemini-2.5-flash"
    with pytest.raises(InvalidRequest) as info:
        translate(request_body, default_model=default)
    assert info.value.param == param
    status, error, headers = error_to_openai(info.value)
    assert status == 400 and error["error"]["param"] == param and headers == {}
    assert error["error"]["type"] == "invalid_request_error"
    assert_valid("ErrorResponse", error)

"""OpenAI Chat Completions request -> Gemini GenerateContentRequest: one row per mapping rule."""

from __future__ import annotations

from typing import Any

import pytest

from gemini_proxy.translate import IGNORED_PARAMS, collect_media_urls

from .requests import PNG, TIME, USER, WEATHER, body, call_msg, gem, translate

# (id, request body, expected subset of the Gemini body)
MAPPING: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("plain user string", body(), {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}),
    (
        "multi-turn roles, never concatenated",
        body(messages=[USER, {"role": "assistant", "content": "hello"}, {"role": "user", "content": "again"}]),
        {
            "contents": [
                {"role": "user", "parts": [{"text": "hi"}]},
                {"role": "model", "parts": [{"text": "hello"}]},
                {"role": "user", "parts": [{"text": "again"}]},
            ]
        },
    ),
    (
        "consecutive same-role turns merged",
        body(messages=[USER, {"role": "user", "content": [{"type": "text", "text": "more"}], "name": "bob"}]),
        {"contents": [{"role": "user", "parts": [{"text": "hi"}, {"text": "more"}]}]},
    ),
    (
        "system and developer -> systemInstruction in order",
        body(
            messages=[
                {"role": "system", "content": "be brief"},
                USER,
                {"role": "developer", "content": [{"type": "text", "text": "be kind"}]},
            ]
        ),
        {
            "systemInstruction": {"parts": [{"text": "be brief"}, {"text": "be kind"}]},
            "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        },
    ),
    (
        "only a system message is sent as the user turn",
        body(messages=[{"role": "system", "content": "say hi"}]),
        {"contents": [{"role": "user", "parts": [{"text": "say hi"}]}]},
    ),
    (
        "image data URL -> inlineData",
        body(
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what?"},
                        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                    ],
                }
            ]
        ),
        {
            "contents": [
                {"role": "user", "parts": [{"text": "what?"}, {"inlineData": {"mimeType": "image/png", "data": PNG}}]}
            ]
        },
    ),
    (
        "input_audio mp3 -> audio/mp3",
        body(
            messages=[
                {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AAA=", "format": "mp3"}}]}
            ]
        ),
        {"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "audio/mp3", "data": "AAA="}}]}]},
    ),
    (
        "input_audio wav -> audio/wav",
        body(
            messages=[
                {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AAA=", "format": "wav"}}]}
            ]
        ),
        {"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "audio/wav", "data": "AAA="}}]}]},
    ),
    (
        "file with data URL -> inlineData pdf",
        body(
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"}}
                    ],
                }
            ]
        ),
        {"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}}]}]},
    ),
    (
        "upper-case data URL scheme (schemes are case-insensitive)",
        body(
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": f"DATA:image/png;BASE64,{PNG}"}}],
                }
            ]
        ),
        {"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "image/png", "data": PNG}}]}]},
    ),
    (
        "file with an upper-case data URL scheme",
        body(
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "file", "file": {"file_data": "Data:application/pdf;base64,JVBE"}}],
                }
            ]
        ),
        {"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}}]}]},
    ),
    (
        "file with bare base64 -> mime from filename",
        body(
            messages=[
                {"role": "user", "content": [{"type": "file", "file": {"file_data": "JVBE", "filename": "r.PDF"}}]}
            ]
        ),
        {"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}}]}]},
    ),
    (
        "assistant text + tool_calls -> text then functionCall parts; tool results one user turn in call order",
        body(
            messages=[
                USER,
                call_msg(("c1", "weather", '{"city":"Paris"}'), ("c2", "now", ""), content="Let me check."),
                {"role": "tool", "tool_call_id": "c2", "content": "12:00"},
                {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "sunny"}]},
            ],
            tools=[WEATHER, TIME],
        ),
        {
            "contents": [
                {"role": "user", "parts": [{"text": "hi"}]},
                {
                    "role": "model",
                    "parts": [
                        {"text": "Let me check."},
                        {"functionCall": {"name": "weather", "args": {"city": "Paris"}}},
                        {"functionCall": {"name": "now", "args": {}}},
                    ],
                },
                {
                    "role": "user",
                    "parts": [
                        {"functionResponse": {"name": "weather", "response": {"output": "sunny"}}},
                        {"functionResponse": {"name": "now", "response": {"output": "12:00"}}},
                    ],
                },
            ]
        },
    ),
    (
        "legacy function_call + function role",
        body(
            messages=[
                USER,
                {"role": "assistant", "content": None, "function_call": {"name": "now", "arguments": "{}"}},
                {"role": "function", "name": "now", "content": "noon"},
            ]
        ),
        {
            "contents": [
                {"role": "user", "parts": [{"text": "hi"}]},
                {"role": "model", "parts": [{"functionCall": {"name": "now", "args": {}}}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "now", "response": {"output": "noon"}}}]},
            ]
        },
    ),
    (
        "tools -> one functionDeclarations entry; no-parameter function has no parameters key",
        body(tools=[WEATHER, TIME]),
        {
            "tools": [
                {
                    "functionDeclarations": [
                        {
                            "name": "weather",
                            "parameters": {
                                "type": "OBJECT",
                                "properties": {"city": {"type": "STRING"}},
                                "required": ["city"],
                                "propertyOrdering": ["city"],
                            },
                        },
                        {"name": "now", "description": "current time"},
                    ]
                }
            ]
        },
    ),
    (
        "empty-object parameters -> no parameters key",
        body(
            tools=[
                {"type": "function", "function": {"name": "ping", "parameters": {"type": "object", "properties": {}}}}
            ]
        ),
        {"tools": [{"functionDeclarations": [{"name": "ping"}]}]},
    ),
    (
        "legacy functions",
        body(functions=[{"name": "now"}], function_call={"name": "now"}),
        {
            "tools": [{"functionDeclarations": [{"name": "now"}]}],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["now"]}},
        },
    ),
    (
        "tool_choice none",
        body(tools=[TIME], tool_choice="none"),
        {"toolConfig": {"functionCallingConfig": {"mode": "NONE"}}},
    ),
    (
        "tool_choice auto",
        body(tools=[TIME], tool_choice="auto"),
        {"toolConfig": {"functionCallingConfig": {"mode": "AUTO"}}},
    ),
    (
        "tool_choice required",
        body(tools=[TIME], tool_choice="required"),
        {"toolConfig": {"functionCallingConfig": {"mode": "ANY"}}},
    ),
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
    (
        "max_completion_tokens wins",
        body(max_tokens=100, max_completion_tokens=50),
        {"generationConfig": {"maxOutputTokens": 50}},
    ),
    ("logprobs", body(logprobs=True, top_logprobs=3), {"generationConfig": {"responseLogprobs": True, "logprobs": 3}}),
    # Whole-number floats are integers in JSON: sent on as ints
    ("n 2.0", body(n=2.0), {"generationConfig": {"candidateCount": 2}}),
    ("max_tokens 10.0", body(max_tokens=10.0), {"generationConfig": {"maxOutputTokens": 10}}),
    ("max_completion_tokens 50.0", body(max_completion_tokens=50.0), {"generationConfig": {"maxOutputTokens": 50}}),
    ("seed -7.0", body(seed=-7.0), {"generationConfig": {"seed": -7}}),
    ("top_k 4.0", body(top_k=4.0), {"generationConfig": {"topK": 4}}),
    ("top_logprobs 3.0", body(logprobs=True, top_logprobs=3.0), {"generationConfig": {"logprobs": 3}}),
    (
        "thinking_budget 2048.0",
        body(google={"thinking_config": {"thinking_budget": 2048.0}}),
        {"generationConfig": {"thinkingConfig": {"thinkingBudget": 2048}}},
    ),
    ("response_format text", body(response_format={"type": "text"}), {}),
    (
        "response_format json_object",
        body(response_format={"type": "json_object"}),
        {"generationConfig": {"responseMimeType": "application/json"}},
    ),
    (
        "response_format json_schema -> responseSchema via the sanitizer",
        body(
            response_format={
                "type": "json_schema",
                "json_schema": {
                    "name": "x",
                    "strict": True,
                    "schema": {
                        "type": "object",
                        "title": "X",
                        "additionalProperties": False,
                        "properties": {"a": {"type": ["integer", "null"]}},
                        "required": ["a"],
                    },
                },
            }
        ),
        {
            "generationConfig": {
                "responseMimeType": "application/json",
                "responseSchema": {
                    "type": "OBJECT",
                    "properties": {"a": {"type": "INTEGER", "nullable": True}},
                    "required": ["a"],
                    "propertyOrdering": ["a"],
                },
            }
        },
    ),
    (
        "response_format recursive json_schema -> responseJsonSchema",
        body(
            response_format={
                "type": "json_schema",
                "json_schema": {
                    "name": "t",
                    "schema": {
                        "$schema": "https://json-schema.org/draft/2020-12/schema",
                        "$ref": "#/$defs/node",
                        "$defs": {
                            "node": {
                                "type": "object",
                                "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
                            }
                        },
                    },
                },
            }
        ),
        {
            "generationConfig": {
                "responseMimeType": "application/json",
                "responseJsonSchema": {
                    "$ref": "#/$defs/node",
                    "$defs": {
                        "node": {
                            "type": "object",
                            "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
                        }
                    },
                },
            }
        },
    ),
    (
        "reasoning_effort low on 2.5 flash",
        body(reasoning_effort="low"),
        {"generationConfig": {"thinkingConfig": {"thinkingBudget": 1024}}},
    ),
    (
        "reasoning_effort medium on 2.5",
        body(reasoning_effort="medium"),
        {"generationConfig": {"thinkingConfig": {"thinkingBudget": 8192}}},
    ),
    (
        "reasoning_effort high on 2.5",
        body(reasoning_effort="high"),
        {"generationConfig": {"thinkingConfig": {"thinkingBudget": 24576}}},
    ),
    (
        "reasoning_effort none on 2.5 flash -> 0",
        body(reasoning_effort="none"),
        {"generationConfig": {"thinkingConfig": {"thinkingBudget": 0}}},
    ),
    (
        "reasoning_effort none on 2.5 pro -> lowest budget",
        body(model="gemini-2.5-pro", reasoning_effort="none"),
        {"generationConfig": {"thinkingConfig": {"thinkingBudget": 128}}},
    ),
    (
        "reasoning_effort max on 2.5 pro -> top budget",
        body(model="gemini-2.5-pro", reasoning_effort="max"),
        {"generationConfig": {"thinkingConfig": {"thinkingBudget": 32768}}},
    ),
    (
        "reasoning_effort minimal on 3 flash",
        body(model="gemini-3-flash-preview", reasoning_effort="minimal"),
        {"generationConfig": {"thinkingConfig": {"thinkingLevel": "MINIMAL"}}},
    ),
    (
        "reasoning_effort xhigh on 3 flash",
        body(model="gemini-3-flash-preview", reasoning_effort="xhigh"),
        {"generationConfig": {"thinkingConfig": {"thinkingLevel": "HIGH"}}},
    ),
    (
        "reasoning_effort none on 3.1 pro -> LOW",
        body(model="gemini-3.1-pro-preview", reasoning_effort="none"),
        {"generationConfig": {"thinkingConfig": {"thinkingLevel": "LOW"}}},
    ),
    (
        "reasoning_effort medium on 3.1 pro",
        body(model="gemini-3.1-pro-preview", reasoning_effort="medium"),
        {"generationConfig": {"thinkingConfig": {"thinkingLevel": "MEDIUM"}}},
    ),
    (
        "reasoning_effort medium on 3.0 pro -> HIGH",
        body(model="gemini-3-pro-preview", reasoning_effort="medium"),
        {"generationConfig": {"thinkingConfig": {"thinkingLevel": "HIGH"}}},
    ),
    (
        "google extension at top level",
        body(
            google={
                "thinking_config": {"thinking_budget": 2048, "include_thoughts": True},
                "safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
                "cached_content": "cachedContents/abc",
            }
        ),
        {
            "generationConfig": {"thinkingConfig": {"thinkingBudget": 2048, "includeThoughts": True}},
            "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
            "cachedContent": "cachedContents/abc",
        },
    ),
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
        assert (expected, type(expected)) == (actual, type(actual)), path  # 2 is not 2.0 on the wire


@pytest.mark.parametrize(("request_body", "expected"), [(b, e) for _, b, e in MAPPING], ids=[i for i, _, _ in MAPPING])
def test_mapping(request_body: dict[str, Any], expected: dict[str, Any]) -> None:
    _subset(expected, gem(request_body))


def test_nothing_invented() -> None:
    """What the client did not send stays absent."""
    assert gem(body()) == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def test_ignored_params_are_accepted() -> None:
    assert {
        "user",
        "store",
        "metadata",
        "service_tier",
        "logit_bias",
        "prediction",
        "modalities",
        "safety_identifier",
        "prompt_cache_key",
        "verbosity",
    } <= IGNORED_PARAMS
    noisy = body(**{name: "x" for name in IGNORED_PARAMS}, brand_new_param={"a": 1})
    assert gem(noisy) == gem(body())


def test_web_search_options_turn_on_google_search() -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    assert gem(body(web_search_options={}))["tools"] == [{"googleSearch": {}}]
    with_function = gem(body(web_search_options={"search_context_size": "high"}, tools=tools))["tools"]
    assert with_function[-1] == {"googleSearch": {}} and "functionDeclarations" in with_function[0]
    assert translate(body(web_search_options={})).web_search and not translate(body()).web_search


def test_chat_call_facts() -> None:
    call = translate(
        body(
            model="gpt-4o",
            stream=True,
            stream_options={"include_usage": True},
            n=2,
            parallel_tool_calls=False,
            google={"thinking_config": {"include_thoughts": True}},
        )
    )
    assert (call.model, call.requested_model, call.stream, call.include_usage, call.include_thoughts, call.n) == (
        "gemini-2.5-flash",
        "gpt-4o",
        True,
        True,
        True,
        2,
    )
    assert call.parallel_tool_calls is False and call.legacy_functions is False
    assert translate(body(functions=[{"name": "now"}])).legacy_functions is True
    default = translate({"messages": [USER]}, default_model="gemini-2.0-flash")
    assert (default.model, default.requested_model, default.n, default.stream) == (
        "gemini-2.0-flash",
        "gemini-2.0-flash",
        1,
        False,
    )


@pytest.mark.parametrize(
    "url", ["https://example.com/cat.png", "http://example.com/cat.png", "HTTPS://example.com/cat.png", "Http://x/y"]
)
def test_http_image_comes_from_fetched_media(url: str) -> None:
    request = body(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}])
    assert collect_media_urls(request) == [(url, "messages[0].content[0].image_url")]
    parts = gem(request, fetched_media={url: ("image/png", PNG)})["contents"][0]["parts"]
    assert parts == [{"inlineData": {"mimeType": "image/png", "data": PNG}}]


def test_collect_media_urls_is_tolerant_and_deduplicated() -> None:
    assert collect_media_urls([]) == [] and collect_media_urls({"messages": "x"}) == []
    part = {"type": "image_url", "image_url": {"url": "http://a/x.png"}}
    data = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}
    assert collect_media_urls({"messages": [{"role": "user", "content": [part, data, part]}, 3]}) == [
        ("http://a/x.png", "messages[0].content[0].image_url")
    ]


def test_model_resolution_in_request() -> None:
    assert translate(body(model="fast")).model == "gemini-2.5-flash-lite"
    assert translate(body(model="models/gemini-2.5-pro")).model == "gemini-2.5-pro"
    assert translate(body(model="google/gemini-2.5-pro")).requested_model == "google/gemini-2.5-pro"

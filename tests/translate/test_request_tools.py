"""Chat Completions tools, tool calls and tool results -> Gemini: one row per mapping rule."""

from __future__ import annotations

from typing import Any

import pytest

from .requests import TIME, USER, WEATHER, assert_subset, body, call_msg, gem, translate

# (id, request body, expected subset of the Gemini body)
MAPPING: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
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
]


@pytest.mark.parametrize(("request_body", "expected"), [(b, e) for _, b, e in MAPPING], ids=[i for i, _, _ in MAPPING])
def test_mapping(request_body: dict[str, Any], expected: dict[str, Any]) -> None:
    assert_subset(expected, gem(request_body))


def test_web_search_options_turn_on_google_search() -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    assert gem(body(web_search_options={}))["tools"] == [{"googleSearch": {}}]
    with_function = gem(body(web_search_options={"search_context_size": "high"}, tools=tools))["tools"]
    assert with_function[-1] == {"googleSearch": {}} and "functionDeclarations" in with_function[0]
    assert translate(body(web_search_options={})).web_search and not translate(body()).web_search

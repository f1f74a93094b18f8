"""Cases found in review: odd input is a 400 naming the field, and answers keep OpenAI's shapes."""

from __future__ import annotations

from typing import Any

import pytest

from gemini_proxy.errors import InvalidRequest
from gemini_proxy.translate import ChatStreamTranslator, to_chat_completion

from .requests import USER, body, gem, translate


def nested_schema(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        node = {"type": "object", "properties": {"a": node}, "required": ["a"]}
    return node


def tool(parameters: dict[str, Any]) -> dict[str, Any]:
    return {"type": "function", "function": {"name": "f", "parameters": parameters}}


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"reasoning_effort": ["high"]}, "reasoning_effort"),
        ({"reasoning_effort": {}}, "reasoning_effort"),
        ({"tools": [tool(nested_schema(300))]}, "tools[0].function.parameters"),
    ],
)
def test_odd_input_is_a_400(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        translate(body(**fields))
    assert info.value.param == param


def test_required_entries_that_are_not_names_are_dropped() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": [["a"], "a", 3]}
    declaration = gem(body(tools=[tool(schema)]))["tools"][0]["functionDeclarations"][0]
    assert declaration["parameters"]["required"] == ["a"]


def test_a_schema_within_the_depth_limit_still_works() -> None:
    gem(body(tools=[tool(nested_schema(40))]))


@pytest.mark.parametrize(
    ("seed", "sent"),
    [(7, 7), (-7, -7), (2**31 - 1, 2**31 - 1), (2**31, -(2**31)), (2**32 + 5, 5), (2**63 - 1, -1)],
)
def test_seed_is_folded_into_geminis_int32(seed: int, sent: int) -> None:
    assert gem(body(seed=seed))["generationConfig"]["seed"] == sent


def test_content_is_null_beside_tool_calls_even_with_an_empty_text_part() -> None:
    call = translate({"model": "gemini-3-flash-preview", "messages": [USER]})
    answer = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "c2ln"},
                        {"text": ""},
                    ],
                },
                "finishReason": "STOP",
            }
        ]
    }
    message = to_chat_completion(answer, call=call, completion_id="c", created=1, new_call_id=lambda: "call_1")[
        "choices"
    ][0]["message"]
    assert message["content"] is None and message["tool_calls"][0]["function"]["name"] == "f"


def test_a_stream_blocked_before_any_text_says_why() -> None:
    call = translate(body(stream=True))
    translator = ChatStreamTranslator(call, completion_id="c", created=1, new_call_id=lambda: "call_1")
    assert translator.feed({"candidates": [{"finishReason": "SAFETY", "index": 0}]}) == []
    first, finish = translator.finish()
    assert first["choices"][0]["delta"]["refusal"].startswith(
        "The response was blocked by Gemini (finishReason: SAFETY)"
    )
    assert first["choices"][0]["delta"]["content"] is None
    assert finish["choices"][0]["finish_reason"] == "content_filter"


def test_legacy_functions_remember_only_the_call_they_return() -> None:
    call = translate(body(functions=[{"name": "f", "parameters": {"type": "object", "properties": {}}}]))
    ids = iter(["call_1", "call_2"])
    translator = ChatStreamTranslator(call, completion_id="c", created=1, new_call_id=lambda: next(ids))
    chunks = translator.feed(
        {
            "candidates": [
                {
                    "content": {
                        "parts": [
                            {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "czE="},
                            {"functionCall": {"name": "f", "args": {"x": 1}}, "thoughtSignature": "czI="},
                        ]
                    }
                }
            ]
        }
    )
    assert len(chunks) == 1 and translator.signatures == {"call_1": "czE="}

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


def not_chain(levels: int) -> dict[str, Any]:
    """A schema Gemini's subset cannot express (so sent as JSON Schema), ``levels`` schemas deep."""
    node: dict[str, Any] = {}
    for _ in range(levels - 2):
        node = {"not": node}
    return {"properties": {"a": {}}, "not": node}


def type_chain(depth: int) -> list[Any]:
    node: list[Any] = ["string", "integer"]
    for _ in range(depth):
        node = ["string", node]
    return node


def response_schema(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "r", "schema": schema}}


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"reasoning_effort": ["high"]}, "reasoning_effort"),
        ({"reasoning_effort": {}}, "reasoning_effort"),
        ({"tools": [tool(nested_schema(300))]}, "tools[0].function.parameters"),
        ({"response_format": response_schema(not_chain(1000))}, "response_format.json_schema.schema"),
        ({"tools": [tool(not_chain(65))]}, "tools[0].function.parameters"),
        ({"tools": [tool({"type": "object", "properties": {"a": {"type": type_chain(900)}}})]},
         "tools[0].function.parameters"),  # fmt: skip
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
    declaration = gem(body(tools=[tool(not_chain(64))]))["tools"][0]["functionDeclarations"][0]
    assert declaration["parametersJsonSchema"] == not_chain(64)


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


def test_schema_cache_gives_the_same_request_and_stays_bounded() -> None:
    import orjson

    from gemini_proxy.translate import tools as tools_module

    def many(count: int, offset: int = 0) -> dict[str, Any]:
        return body(
            tools=[
                {
                    "type": "function",
                    "function": {
                        "name": f"f{i}",
                        "parameters": {
                            "type": "object",
                            "properties": {f"p{i + offset}": {"type": "string", "title": "t"}},
                        },
                    },
                }
                for i in range(count)
            ]
        )

    cache: dict[bytes, Any] = {}
    for request in (many(10), many(10)):  # the second is served from the cache
        plain = orjson.dumps(translate(request).gemini_body)
        cached = orjson.dumps(to_gemini_request_with(request, cache))
        assert plain == cached
    assert len(cache) == 10
    for start in range(0, 2 * tools_module._CACHE_SIZE, 50):
        to_gemini_request_with(many(50, start), cache)
    assert len(cache) <= tools_module._CACHE_SIZE


def test_a_bad_schema_is_refused_every_time_with_a_cache() -> None:
    cache: dict[bytes, Any] = {}
    for _ in range(2):
        with pytest.raises(InvalidRequest):
            to_gemini_request_with(body(tools=[tool(nested_schema(300))]), cache)
    assert cache == {}


def to_gemini_request_with(request: dict[str, Any], cache: dict[bytes, Any]) -> dict[str, Any]:
    from gemini_proxy.translate import to_gemini_request

    call = to_gemini_request(
        request, aliases={}, default_model="gemini-2.5-flash", signatures={}, fetched_media={}, schema_cache=cache
    )
    return call.gemini_body

"""Bad input -> InvalidRequest (HTTP 400) naming the exact ``param``."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gemini_proxy.errors import InvalidRequest
from gemini_proxy.translate import error_to_openai

from .helpers import assert_valid
from .requests import TIME, USER, body, call_msg, translate

# A value nested 1000 levels deep (the JSON parser allows 1024): ``repr`` of it overflows the stack.
DEEP = orjson.loads("[" * 1000 + "]" * 1000)


def schema_tool(parameters: Any) -> dict[str, Any]:
    return {"type": "function", "function": {"name": "f", "parameters": parameters}}


SCHEMA = "tools[0].function.parameters"

# (id, request body, expected param)
BAD: list[tuple[str, Any, str | None]] = [
    ("body not an object", [], None),
    ("missing messages", {"model": "gemini-2.5-flash"}, "messages"),
    ("empty messages", body(messages=[]), "messages"),
    ("message not an object", body(messages=["hi"]), "messages[0]"),
    ("unknown role", body(messages=[{"role": "robot", "content": "x"}]), "messages[0].role"),
    ("content not string or list", body(messages=[{"role": "user", "content": 5}]), "messages[0].content"),
    (
        "unknown part type",
        body(messages=[{"role": "user", "content": [{"type": "video", "video": {}}]}]),
        "messages[0].content[0].type",
    ),
    (
        "image part in system",
        body(messages=[{"role": "system", "content": [{"type": "image_url"}]}, USER]),
        "messages[0].content[0].type",
    ),
    (
        "malformed image data URL",
        body(
            messages=[
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png,notbase64"}}]}
            ]
        ),
        "messages[0].content[0].image_url",
    ),
    (
        "image URL not fetched",
        body(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]),
        "messages[0].content[0].image_url",
    ),
    (
        "image URL bad scheme",
        body(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}]}]),
        "messages[0].content[0].image_url",
    ),
    (
        "audio bad format",
        body(
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "input_audio", "input_audio": {"data": "AA==", "format": "midi"}}],
                }
            ]
        ),
        "messages[0].content[0].input_audio.format",
    ),
    (
        "file_id unsupported",
        body(messages=[{"role": "user", "content": [{"type": "file", "file": {"file_id": "f"}}]}]),
        "messages[0].content[0].file.file_id",
    ),
    (
        "tool message without matching call",
        body(messages=[USER, {"role": "tool", "tool_call_id": "nope", "content": "x"}]),
        "messages[1].tool_call_id",
    ),
    (
        "tool call arguments invalid JSON",
        body(messages=[USER, call_msg(("c1", "now", "{bad"))]),
        "messages[1].tool_calls[0].function.arguments",
    ),
    (
        "tool call arguments not an object",
        body(messages=[USER, call_msg(("c1", "now", "[1]"))]),
        "messages[1].tool_calls[0].function.arguments",
    ),
    ("tool call without id", body(messages=[USER, call_msg(("", "now", "{}"))]), "messages[1].tool_calls[0].id"),
    ("n zero", body(n=0), "n"),
    ("n not int", body(n=1.5), "n"),
    ("n not a whole number", body(n=2.5), "n"),
    ("max_tokens not a whole number", body(max_tokens=10.5), "max_tokens"),
    ("seed a float past 64 bits", body(seed=1e19), "seed"),
    ("top_logprobs not a whole number", body(logprobs=True, top_logprobs=2.5), "top_logprobs"),
    (
        "thinking_budget not a whole number",
        body(google={"thinking_config": {"thinking_budget": 0.5}}),
        "google.thinking_config.thinking_budget",
    ),
    ("n bool", body(n=True), "n"),
    ("temperature not a number", body(temperature="hot"), "temperature"),
    ("temperature out of range", body(temperature=3), "temperature"),
    ("top_p not a number", body(top_p=[1]), "top_p"),
    ("seed not int", body(seed="1"), "seed"),
    ("top_k not int", body(top_k="4"), "top_k"),
    ("presence_penalty out of range", body(presence_penalty=3), "presence_penalty"),
    ("frequency_penalty not a number", body(frequency_penalty="x"), "frequency_penalty"),
    ("logprobs not bool", body(logprobs="yes"), "logprobs"),
    ("response_format not object", body(response_format="json"), "response_format"),
    ("extra_body google not object", body(extra_body={"google": 5}), "extra_body.google"),
    ("max_tokens zero", body(max_tokens=0), "max_tokens"),
    ("max_completion_tokens not int", body(max_completion_tokens="9"), "max_completion_tokens"),
    ("stop too many", body(stop=["a", "b", "c", "d", "e"]), "stop"),
    ("stop wrong type", body(stop=5), "stop"),
    ("top_logprobs out of range", body(logprobs=True, top_logprobs=21), "top_logprobs"),
    ("top_logprobs over 20 without logprobs", body(top_logprobs=21), "top_logprobs"),
    ("top_logprobs negative with logprobs false", body(logprobs=False, top_logprobs=-1), "top_logprobs"),
    ("top_logprobs a string without logprobs", body(top_logprobs="5"), "top_logprobs"),
    ("top_logprobs without logprobs", body(top_logprobs=5), "top_logprobs"),
    ("top_logprobs with logprobs false", body(logprobs=False, top_logprobs=0), "top_logprobs"),
    ("stream not bool", body(stream="yes"), "stream"),
    ("stream_options not object", body(stream=True, stream_options=True), "stream_options"),
    (
        "stream_options.include_usage not bool",
        body(stream=True, stream_options={"include_usage": "y"}),
        "stream_options.include_usage",
    ),
    ("tool_choice unknown string", body(tools=[TIME], tool_choice="sometimes"), "tool_choice"),
    (
        "tool_choice unknown function",
        body(tools=[TIME], tool_choice={"type": "function", "function": {"name": "x"}}),
        "tool_choice",
    ),
    ("tool_choice required without tools", body(tool_choice="required"), "tool_choice"),
    ("tool type unsupported", body(tools=[{"type": "custom", "custom": {"name": "x"}}]), "tools[0].type"),
    (
        "function name invalid",
        body(tools=[{"type": "function", "function": {"name": "1 bad"}}]),
        "tools[0].function.name",
    ),
    ("duplicate function", body(tools=[TIME, TIME]), "tools[1].function.name"),
    (
        "schema ref unresolvable",
        body(
            tools=[
                {
                    "type": "function",
                    "function": {
                        "name": "f",
                        "parameters": {"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}},
                    },
                }
            ]
        ),
        "tools[0].function.parameters",
    ),
    ("response_format not object", body(response_format="json"), "response_format"),
    ("response_format unknown type", body(response_format={"type": "xml"}), "response_format.type"),
    (
        "response_format json_schema missing",
        body(response_format={"type": "json_schema"}),
        "response_format.json_schema",
    ),
    ("reasoning_effort unknown", body(reasoning_effort="extreme"), "reasoning_effort"),
    (
        "reasoning_effort with google thinking budget",
        body(reasoning_effort="low", google={"thinking_config": {"thinking_budget": 10}}),
        "reasoning_effort",
    ),
    (
        "reasoning_effort with extra_body thinking level",
        body(reasoning_effort="low", extra_body={"google": {"thinking_config": {"thinking_level": "low"}}}),
        "reasoning_effort",
    ),
    ("google not object", body(google="x"), "google"),
    (
        "thinking budget and level together",
        body(google={"thinking_config": {"thinking_budget": 1, "thinking_level": "low"}}),
        "google.thinking_config",
    ),
    ("safety settings malformed", body(google={"safety_settings": [{"category": 1}]}), "google.safety_settings"),
    ("model missing without default", {"messages": [USER]}, "model"),
    ("model name unsafe for URL", body(model="gemini/../x"), "model"),
    ("parallel_tool_calls not bool", body(parallel_tool_calls="no"), "parallel_tool_calls"),
    # Values quoted in the message, nested too deeply for repr
    ("role nested deep", body(messages=[{"role": DEEP, "content": "x"}]), "messages[0].role"),
    (
        "part type nested deep",
        body(messages=[{"role": "user", "content": [{"type": DEEP}]}]),
        "messages[0].content[0].type",
    ),
    (
        "tool_call_id nested deep",
        body(messages=[USER, {"role": "tool", "tool_call_id": DEEP, "content": "x"}]),
        "messages[1].tool_call_id",
    ),
    ("tool type nested deep", body(tools=[{"type": DEEP}]), "tools[0].type"),
    ("tool_choice type nested deep", body(tools=[TIME], tool_choice={"type": DEEP}), "tool_choice.type"),
    (
        "allowed_tools name nested deep",
        body(tools=[TIME], tool_choice={"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": [
            {"type": "function", "function": {"name": DEEP}}]}}),
        "tool_choice.allowed_tools.tools",
    ),  # fmt: skip
    ("schema $ref nested deep", body(tools=[schema_tool({"properties": {"a": {"$ref": DEEP}}})]), SCHEMA),
    ("schema type nested deep", body(tools=[schema_tool({"properties": {"a": {"type": DEEP}}})]), SCHEMA),
]


@pytest.mark.parametrize(("request_body", "param"), [(b, p) for _, b, p in BAD], ids=[i for i, _, _ in BAD])
def test_bad_input_is_400_with_param(request_body: Any, param: str | None) -> None:
    default = None if param == "model" else "gemini-2.5-flash"
    with pytest.raises(InvalidRequest) as info:
        translate(request_body, default_model=default)
    assert info.value.param == param
    status, error, headers = error_to_openai(info.value)
    assert status == 400 and error["error"]["param"] == param and headers == {}
    assert error["error"]["type"] == "invalid_request_error"
    assert len(error["error"]["message"]) < 300
    assert_valid("ErrorResponse", error)

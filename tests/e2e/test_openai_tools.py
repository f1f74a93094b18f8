"""Tool calls through the real `openai` SDK, with Gemini 2.5 and Gemini 3 (thought signatures)."""

from __future__ import annotations

import json

import openai
import pytest

from tests.servers import ServerProcess

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "title": "City"},
                "unit": {"anyOf": [{"type": "string", "enum": ["c", "f"]}, {"type": "null"}], "default": None},
            },
            "required": ["city"],
            "additionalProperties": False,
            "$schema": "http://json-schema.org/draft-07/schema#",
        },
    },
}


@pytest.fixture
def client(proxy: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy.url + "/v1", api_key="unused", max_retries=0)


@pytest.mark.parametrize("model", ["gemini-2.5-flash", "gemini-3-flash-preview"])
@pytest.mark.parametrize("keep_extra_fields", [True, False])
def test_tool_round_trip(client: openai.OpenAI, model: str, keep_extra_fields: bool) -> None:
    messages: list = [{"role": "user", "content": "Please call get_weather for Paris"}]
    first = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert len(calls) == 1 and calls[0].function.name == "get_weather" and calls[0].type == "function"
    args = json.loads(calls[0].function.arguments)
    assert isinstance(args["city"], str)
    dumped = calls[0].model_dump()
    if model.startswith("gemini-3"):
        assert dumped["extra_content"]["google"]["thought_signature"]
    if keep_extra_fields:
        assistant = choice.message.model_dump(exclude_none=True)
    else:  # a client that keeps only what OpenAI defines: the proxy must remember the signature
        assistant = {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.function.name, "arguments": c.function.arguments},
                }
                for c in calls
            ],
        }
    messages += [assistant, {"role": "tool", "tool_call_id": calls[0].id, "content": "sunny, 21 C"}]
    second = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER])
    assert second.choices[0].finish_reason == "stop"
    assert "function get_weather returned" in (second.choices[0].message.content or "")
    assert "sunny, 21 C" in (second.choices[0].message.content or "")


def test_tool_choice_required_forces_a_call(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "hello"}],
        tools=[WEATHER],
        tool_choice="required",
    )
    assert reply.choices[0].finish_reason == "tool_calls"


def test_tool_choice_none_never_calls(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "call get_weather"}],
        tools=[WEATHER],
        tool_choice="none",
    )
    assert reply.choices[0].finish_reason == "stop" and not reply.choices[0].message.tool_calls


def test_streamed_tool_call_is_shaped_like_openai(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="gemini-3-flash-preview",
            messages=[{"role": "user", "content": "call get_weather now"}],
            tools=[WEATHER],
            stream=True,
        )
    )
    deltas = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert deltas, "no tool-call delta"
    first = deltas[0]
    assert first.index == 0 and first.id and first.type == "function" and first.function and first.function.name
    arguments = "".join(d.function.arguments or "" for d in deltas if d.function)
    assert "city" in json.loads(arguments)
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["tool_calls"]


def test_parallel_calls_keep_their_order(client: openai.OpenAI) -> None:
    time_tool = {
        "type": "function",
        "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
    }
    messages: list = [{"role": "user", "content": "call get_weather and get_time"}]
    first = client.chat.completions.create(
        model="gemini-3-flash-preview", messages=messages, tools=[WEATHER, time_tool]
    )
    calls = first.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages += [{"role": "tool", "tool_call_id": c.id, "content": f"result of {c.function.name}"} for c in calls]
    second = client.chat.completions.create(
        model="gemini-3-flash-preview", messages=messages, tools=[WEATHER, time_tool]
    )
    text = second.choices[0].message.content or ""
    assert text.index("get_weather") < text.index("get_time")


def test_legacy_functions(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "call get_weather"}],
        functions=[WEATHER["function"]],
        function_call="auto",
    )
    message = reply.choices[0].message
    assert message.function_call is not None or message.tool_calls

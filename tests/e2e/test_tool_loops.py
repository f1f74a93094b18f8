"""Tool loops that finish, through the proxy with the `openai` SDK (#17): with tool_choice required
(Gemini's ANY mode), once the tool results are back the declared final-answer tool is the one called
(pydantic-ai's `final_result`); a tool named with punctuation around it is called."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from tests.e2e.test_openai_tools import WEATHER
from tests.servers import ServerProcess

FINAL = {"type": "function", "function": {
    "name": "final_result", "description": "The final response which ends this conversation",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "temperature": {"type": "integer"}},
                   "required": ["city", "temperature"]}}}


@pytest.fixture
def client(proxy: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy.url + "/v1", api_key="unused", max_retries=0)


def test_required_tool_choice_ends_with_the_final_answer_tool(client: openai.OpenAI) -> None:
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Oslo? Use get_weather."}]
    first = client.chat.completions.create(model="gemini-2.5-flash", messages=messages, tools=[WEATHER, FINAL],
                                           tool_choice="required")
    (call,) = first.choices[0].message.tool_calls or []
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    messages += [first.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "3 C"}]
    second = client.chat.completions.create(model="gemini-2.5-flash", messages=messages, tools=[WEATHER, FINAL],
                                            tool_choice="required")
    (final,) = second.choices[0].message.tool_calls or []
    assert final.function.name == "final_result"  # type: ignore[union-attr]
    assert set(json.loads(final.function.arguments)) == {"city", "temperature"}  # type: ignore[union-attr]


def test_required_tool_choice_without_a_final_tool_ends_with_text(client: openai.OpenAI) -> None:
    messages: list[Any] = [{"role": "user", "content": "Weather?"}]
    first = client.chat.completions.create(model="gemini-2.5-flash", messages=messages, tools=[WEATHER],
                                           tool_choice="required")
    (call,) = first.choices[0].message.tool_calls or []
    messages += [first.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "3 C"}]
    second = client.chat.completions.create(model="gemini-2.5-flash", messages=messages, tools=[WEATHER],
                                            tool_choice="required")
    assert second.choices[0].finish_reason == "stop" and not second.choices[0].message.tool_calls
    assert "function get_weather returned" in (second.choices[0].message.content or "")


@pytest.mark.parametrize("text", ["Call get_weather.", "get_weather: Paris", "(get_weather)?"])
def test_a_name_with_punctuation_around_it_is_called(client: openai.OpenAI, text: str) -> None:
    reply = client.chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": text}],
                                           tools=[WEATHER])
    assert [c.function.name for c in reply.choices[0].message.tool_calls or []] == ["get_weather"]  # type: ignore[union-attr]

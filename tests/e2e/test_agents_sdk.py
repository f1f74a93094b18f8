"""The OpenAI Agents SDK (``openai-agents``) on the proxy in front of the simulator: an agent with a
function tool, in its default Responses mode and on Chat Completions, and a structured output type.
The simulator's scripted turns (docs/simulator.md) say which call the model makes."""

from __future__ import annotations

import json

import openai
import pytest
from agents import Agent, OpenAIChatCompletionsModel, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled
from pydantic import BaseModel

from tests.servers import ServerProcess

set_tracing_disabled(True)  # no traces leave for OpenAI's servers


class Forecast(BaseModel):
    city: str
    celsius: int
    sunny: bool


def client(proxy: ServerProcess) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key="unused", max_retries=0)


@pytest.mark.parametrize("surface", ["responses", "chat"])
def test_an_agent_runs_its_tool_and_finishes(proxy: ServerProcess, surface: str) -> None:
    seen: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """Current weather of a city."""
        seen.append(city)
        return f"sunny and 21 C in {city}"

    models = {"responses": OpenAIResponsesModel, "chat": OpenAIChatCompletionsModel}
    agent = Agent(name="forecaster", instructions="Answer with the weather.", tools=[get_weather],
                  model=models[surface]("gemini-2.5-flash", client(proxy)))  # type: ignore[abstract]
    prompt = "Weather in Paris? [[sim:call get_weather " + json.dumps({"city": "Paris"}) + "]] [[sim:say Sunny, 21 C.]]"
    result = Runner.run_sync(agent, prompt)
    assert seen == ["Paris"]  # the SDK ran the tool with the model's arguments
    assert result.final_output == "Sunny, 21 C."
    kinds = [item.type for item in result.new_items]
    assert kinds == ["tool_call_item", "tool_call_output_item", "message_output_item"]
    usage = result.context_wrapper.usage
    assert usage.requests == 2 and usage.input_tokens > 0 and usage.output_tokens > 0


def test_an_agent_with_an_output_type_returns_it(proxy: ServerProcess) -> None:
    agent = Agent(name="typed", instructions="Give the forecast.", output_type=Forecast,
                  model=OpenAIResponsesModel("gemini-2.5-flash", client(proxy)))
    result = Runner.run_sync(agent, "Forecast for Oslo")
    assert isinstance(result.final_output, Forecast)  # the simulator answered in the schema's shape
    assert result.context_wrapper.usage.requests == 1

"""Agent frameworks on ``serve --demo`` reach their results in a few requests (#17): pydantic-ai (a
tool plus structured output, the output scripted or not, and prompted output) and a LangGraph ReAct
agent. The simulator's scripted turns (docs/simulator.md) say which call the model makes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel
from pydantic_ai import Agent, PromptedOutput
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider


class Forecast(BaseModel):
    city: str
    celsius: int


@pytest.fixture
def model(demo_port: int) -> OpenAIChatModel:
    provider = OpenAIProvider(base_url=f"http://127.0.0.1:{demo_port}/v1", api_key="unused")
    return OpenAIChatModel("gemini-2.5-flash", provider=provider)


def forecaster(model: OpenAIChatModel, seen: list[str]) -> Agent[None, Forecast]:
    agent = Agent(model, output_type=Forecast, instructions="Give the forecast.")

    @agent.tool_plain
    def get_weather(city: str) -> str:
        """Current weather of a city."""
        seen.append(city)
        return f"sunny and 21 C in {city}"

    return agent


def test_pydantic_ai_runs_the_scripted_tool_then_returns_the_scripted_output(model: OpenAIChatModel) -> None:
    seen: list[str] = []
    call = json.dumps({"city": "Oslo"})
    final = json.dumps({"city": "Oslo", "celsius": 21})
    result = forecaster(model, seen).run_sync(f"Forecast for Oslo [[sim:call get_weather {call}]] [[sim:say {final}]]")
    assert seen == ["Oslo"]
    assert result.output == Forecast(city="Oslo", celsius=21)  # final_result called with the say text
    assert result.usage.requests == 2 and result.usage.tool_calls == 1
    assert result.usage.input_tokens > 0 and result.usage.output_tokens > 0


@pytest.mark.parametrize(
    "prompt", ["Forecast for Oslo; use get_weather.", 'Forecast for Oslo [[sim:call get_weather {"city": "Oslo"}]]']
)
def test_pydantic_ai_with_a_tool_and_an_output_type_finishes(model: OpenAIChatModel, prompt: str) -> None:
    # tool_choice required (Gemini's ANY mode): after the tool result the final_result tool is called
    seen: list[str] = []
    result = forecaster(model, seen).run_sync(prompt)
    assert len(seen) == 1
    assert isinstance(result.output, Forecast)
    assert result.usage.requests == 2


def test_pydantic_ai_prompted_output_follows_the_schema_in_the_prompt(model: OpenAIChatModel) -> None:
    agent = Agent(model, output_type=PromptedOutput(Forecast))
    result = agent.run_sync("Forecast for Bergen")
    assert isinstance(result.output, Forecast)  # json_object plus the schema in the instructions
    assert result.usage.requests == 1


def test_a_langgraph_react_agent_finishes(demo_port: int) -> None:
    from langgraph.prebuilt import create_react_agent  # moved to langchain.agents; LangGraph's own still works

    seen: list[str] = []

    @tool
    def get_weather(city: str) -> str:
        """Current weather of a city."""
        seen.append(city)
        return f"sunny in {city}"

    llm = ChatOpenAI(
        model="gemini-2.5-flash", base_url=f"http://127.0.0.1:{demo_port}/v1", api_key="unused", max_retries=0
    )
    with pytest.warns(DeprecationWarning):
        agent = create_react_agent(llm, [get_weather])
    prompt = 'Weather in Rome? [[sim:call get_weather {"city": "Rome"}]] [[sim:say Sunny in Rome.]]'
    out: dict[str, Any] = agent.invoke({"messages": [("user", prompt)]})
    messages = out["messages"][1:]
    assert seen == ["Rome"]
    assert [type(m) for m in messages] == [AIMessage, ToolMessage, AIMessage]
    assert messages[0].tool_calls[0]["args"] == {"city": "Rome"}
    assert messages[-1].content == "Sunny in Rome."
    # unscripted: the tool the prompt names is called, and the loop ends with text
    out = agent.invoke({"messages": [("user", "What is the weather in Rome? Use get_weather.")]})
    assert [type(m) for m in out["messages"][1:]] == [AIMessage, ToolMessage, AIMessage]
    assert "function get_weather returned" in out["messages"][-1].content

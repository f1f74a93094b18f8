"""LangChain's `ChatOpenAI` against the proxy: plain, streaming, tools and structured output."""

from __future__ import annotations

import pytest
from langchain_core.messages import HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, Field

from tests.servers import ServerProcess


@tool
def get_weather(city: str) -> str:
    """Current weather of a city."""
    return f"sunny in {city}"


class Answer(BaseModel):
    """A structured answer."""

    title: str = Field(description="a short title")
    score: int


@pytest.fixture(params=["gemini-2.5-flash", "gemini-3-flash-preview"])
def llm(request: pytest.FixtureRequest, proxy: ServerProcess) -> ChatOpenAI:
    return ChatOpenAI(model=request.param, base_url=proxy.url + "/v1", api_key="unused", max_retries=0)


def test_invoke_and_stream(llm: ChatOpenAI) -> None:
    reply = llm.invoke([SystemMessage("Be brief."), HumanMessage("Hi LangChain")])
    assert reply.content == "[system: Be brief.] Simulated reply to turn 1: Hi LangChain"
    assert reply.usage_metadata and reply.usage_metadata["total_tokens"] > 0
    streamed = "".join(str(chunk.content) for chunk in llm.stream("Stream LangChain"))
    assert streamed == "Simulated reply to turn 1: Stream LangChain"


def test_tool_round_trip(llm: ChatOpenAI) -> None:
    bound = llm.bind_tools([get_weather])
    messages: list = [HumanMessage("Please call get_weather for Rome")]
    first = bound.invoke(messages)
    assert first.tool_calls and first.tool_calls[0]["name"] == "get_weather"
    call = first.tool_calls[0]
    messages += [first, ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"])]
    second = bound.invoke(messages)
    assert "function get_weather returned" in str(second.content)


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_structured_output(llm: ChatOpenAI, method: str) -> None:
    structured = llm.with_structured_output(Answer, method=method)
    result = structured.invoke("Give me an answer about Answer")
    assert isinstance(result, Answer)

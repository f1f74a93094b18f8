"""A scenario file (``fake-upstream --script``) drives a multi-turn tool conversation through the proxy
exactly as written: the `openai` SDK on /v1/chat/completions sees the scripted call, then after the
tool result the scripted text, each with the scripted usage."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.e2e.test_openai_tools import WEATHER
from tests.servers import ServerProcess, start_proxy, start_simulator

SCENARIO: dict[str, Any] = {"turns": [
    {"match": {"model_turns": 0, "contains": "weather"},
     "functionCalls": [{"name": "get_weather", "args": {"city": "Oslo", "unit": "c"}}],
     "usage": {"promptTokenCount": 31, "candidatesTokenCount": 7, "totalTokenCount": 38}},
    {"match": {"model_turns": 1},
     "text": "Oslo: 3 degrees and clear.",
     "usage": {"promptTokenCount": 52, "candidatesTokenCount": 6, "totalTokenCount": 58}},
]}


@pytest.fixture(scope="module")
def scripted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    path: Path = tmp_path_factory.mktemp("scenario") / "weather.json"
    path.write_text(json.dumps(SCENARIO))
    simulator = start_simulator("--script", str(path))
    try:
        proxy = start_proxy(simulator.url)
        try:
            yield simulator, proxy
        finally:
            proxy.stop()
    finally:
        simulator.stop()


@pytest.mark.parametrize("stream", [False, True])
def test_scenario_drives_a_tool_conversation_exactly(scripted: tuple[ServerProcess, ServerProcess],
                                                     stream: bool) -> None:
    simulator, proxy = scripted
    client = openai.OpenAI(base_url=proxy.url + "/v1", api_key="unused", max_retries=0)
    messages: list[Any] = [{"role": "user", "content": "What is the weather like up north?"}]
    options: dict[str, Any] = {"stream_options": {"include_usage": True}} if stream else {}

    def ask() -> tuple[str | None, list[tuple[str, str, str]], str | None, Any]:
        if not stream:
            reply = client.chat.completions.create(model="gemini-2.5-flash", messages=messages, tools=[WEATHER])
            choice = reply.choices[0]
            calls = [(c.id, c.function.name, c.function.arguments) for c in choice.message.tool_calls or []]
            return choice.message.content, calls, choice.finish_reason, reply.usage
        text, calls, finish, usage = "", [], None, None
        for chunk in client.chat.completions.create(model="gemini-2.5-flash", messages=messages, tools=[WEATHER],
                                                    stream=True, **options):
            usage = chunk.usage or usage
            for choice in chunk.choices:
                text += choice.delta.content or ""
                for c in choice.delta.tool_calls or []:
                    calls.append((c.id or "", c.function.name or "", c.function.arguments or ""))  # type: ignore[union-attr]
                finish = choice.finish_reason or finish
        return text or None, calls, finish, usage

    content, calls, finish, usage = ask()
    assert finish == "tool_calls" and not content
    assert [(name, json.loads(args)) for _, name, args in calls] == [("get_weather", {"city": "Oslo", "unit": "c"})]
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (31, 7, 38)

    call_id, name, args = calls[0]
    messages += [{"role": "assistant", "tool_calls": [{"id": call_id, "type": "function",
                                                       "function": {"name": name, "arguments": args}}]},
                 {"role": "tool", "tool_call_id": call_id, "content": "3 C, clear"}]
    content, calls, finish, usage = ask()
    assert (content, calls, finish) == ("Oslo: 3 degrees and clear.", [], "stop")
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (52, 6, 58)

    seen = httpx.get(simulator.url + "/_sim/scenario").json()["scenario"]
    assert seen["entries"] == 2 and seen["turns"] == SCENARIO["turns"]

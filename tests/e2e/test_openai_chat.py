"""The real `openai` SDK against the proxy in front of the simulator: chat, streaming, options."""

from __future__ import annotations

import httpx
import openai
import pytest
from pydantic import BaseModel

from tests.servers import SIM_KEYS, ServerProcess


@pytest.fixture
def client(proxy: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy.url + "/v1", api_key="unused", max_retries=0)


@pytest.fixture
def aclient(proxy: ServerProcess) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key="unused", max_retries=0)


def native_usage(simulator: ServerProcess, model: str, body: dict) -> dict:
    """What the simulator itself says about a request, asked directly."""
    answer = httpx.post(
        f"{simulator.url}/v1beta/models/{model}:generateContent", json=body, headers={"x-goog-api-key": SIM_KEYS[0]}
    )
    answer.raise_for_status()
    return answer.json()["usageMetadata"]


def test_plain_chat(client: openai.OpenAI, simulator: ServerProcess) -> None:
    reply = client.chat.completions.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "Hello there"}]
    )
    choice = reply.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == "Simulated reply to turn 1: Hello there"
    assert choice.finish_reason == "stop"
    assert reply.object == "chat.completion" and reply.model == "gemini-2.5-flash" and reply.id.startswith("chatcmpl-")
    usage = native_usage(
        simulator, "gemini-2.5-flash", {"contents": [{"role": "user", "parts": [{"text": "Hello there"}]}]}
    )
    assert reply.usage is not None
    assert reply.usage.prompt_tokens == usage["promptTokenCount"]
    assert reply.usage.completion_tokens == usage["candidatesTokenCount"] + usage.get("thoughtsTokenCount", 0)
    assert reply.usage.total_tokens == usage["totalTokenCount"]


def test_multi_turn_and_system_are_real_turns(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="models/gemini-2.5-flash",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "First question"},
            {"role": "assistant", "content": "First answer"},
            {"role": "user", "content": "Second question"},
        ],
    )
    assert reply.choices[0].message.content == "[system: Be brief.] Simulated reply to turn 3: Second question"
    assert reply.model == "models/gemini-2.5-flash"


def test_streaming(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "Stream this please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Simulated reply to turn 1: Stream this please"
    content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content_chunks) >= 2, "the answer must be streamed in pieces, not buffered whole"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert len({c.id for c in chunks}) == 1
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None and last.usage.total_tokens > 0
    assert all(c.usage is None for c in chunks[:-1])


def test_stream_without_usage_has_no_usage_chunk(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="gemini-2.5-flash", messages=[{"role": "user", "content": "x"}], stream=True
        )
    )
    assert all(c.choices for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_raw_stream_framing(proxy: ServerProcess) -> None:
    with httpx.stream(
        "POST",
        proxy.url + "/v1/chat/completions",
        json={"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}], "stream": True},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"  # as api.openai.com
        body = response.read().decode()
    events = body.split("\n\n")
    assert events[-1] == "" and events[-2] == "data: [DONE]"
    assert all(e.startswith("data: ") for e in events[:-1])


async def test_async_client(aclient: openai.AsyncOpenAI) -> None:
    reply = await aclient.chat.completions.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "async hello"}]
    )
    assert reply.choices[0].message.content == "Simulated reply to turn 1: async hello"
    stream = await aclient.chat.completions.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "async stream"}], stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream])
    assert text == "Simulated reply to turn 1: async stream"


def test_stop_sequences(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "Hello"}], stop=["reply"]
    )
    assert reply.choices[0].message.content == "Simulated "
    assert reply.choices[0].finish_reason == "stop"


def test_max_tokens_gives_length(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="gemini-2.0-flash",
        messages=[{"role": "user", "content": "a long question with many words"}],
        max_completion_tokens=3,
    )
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None and reply.usage.completion_tokens <= 3


def test_n_two_choices(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "two please"}], n=2
    )
    assert [c.index for c in reply.choices] == [0, 1]
    assert reply.choices[0].message.content != reply.choices[1].message.content


def test_n_two_streams_under_two_indexes(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="gemini-2.5-flash", messages=[{"role": "user", "content": "two"}], n=2, stream=True
        )
    )
    texts = {0: "", 1: ""}
    for chunk in chunks:
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
    assert texts[0] and texts[1] and texts[0] != texts[1]


def test_reasoning_effort_gives_reasoning_tokens(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "think"}], reasoning_effort="low"
    )
    assert reply.usage is not None and reply.usage.completion_tokens_details is not None
    assert reply.usage.completion_tokens_details.reasoning_tokens > 0
    assert reply.usage.completion_tokens > reply.usage.completion_tokens_details.reasoning_tokens


def test_reasoning_none_turns_thinking_off_on_flash(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "quick"}], reasoning_effort="none"
    )
    details = reply.usage.completion_tokens_details if reply.usage else None
    assert details is None or not details.reasoning_tokens


def test_every_listed_chat_model_takes_every_reasoning_effort(client: openai.OpenAI) -> None:
    # Each family takes its own knob (2.5: a budget; 3: a level): an alias such as
    # gemini-flash-lite-latest must get the knob of what it points at, or Google answers 400.
    refused = []
    for model in client.models.list():
        if "embedding" in model.id:
            continue
        for effort in ("none", "minimal", "low", "medium", "high"):
            try:
                client.chat.completions.create(
                    model=model.id, messages=[{"role": "user", "content": "hi"}], reasoning_effort=effort  # type: ignore[arg-type]
                )
            except openai.APIStatusError as exc:
                refused.append((model.id, effort, exc.status_code, exc.message))
    assert refused == []


def test_thought_summaries_come_back_as_reasoning_content(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "explain"}],
        extra_body={"google": {"thinking_config": {"include_thoughts": True, "thinking_budget": 1024}}},
    )
    message = reply.choices[0].message.model_dump()
    assert message["reasoning_content"]
    assert message["content"] == "Simulated reply to turn 1: explain"


def test_google_extension_conflicts_with_reasoning_effort(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="gemini-2.5-flash",
            messages=[{"role": "user", "content": "x"}],
            reasoning_effort="low",
            extra_body={"extra_body": {"google": {"thinking_config": {"thinking_budget": 10}}}},
        )
    assert info.value.status_code == 400


class Person(BaseModel):
    name: str
    age: int
    tags: list[str]


def test_web_search_options_ground_the_answer_with_url_citations(client: openai.OpenAI) -> None:
    ask = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "who wrote ünïcode tools"}],
           "web_search_options": {"search_context_size": "low"}}
    message = client.chat.completions.create(**ask).choices[0].message  # type: ignore[call-overload]
    assert [a.type for a in message.annotations] == ["url_citation", "url_citation"]
    cited = message.annotations[0].url_citation
    assert cited.url.startswith("https://example.com/") and cited.title == "example.com"
    assert (cited.start_index, cited.end_index) == (0, len(message.content))  # characters, not UTF-8 bytes
    stream = client.chat.completions.create(**ask, stream=True)  # type: ignore[call-overload]
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == message.content
    finish = chunks[-1].choices[0]
    assert finish.finish_reason == "stop"
    assert finish.delta.model_extra["annotations"] == [a.model_dump() for a in message.annotations]
    plain = client.chat.completions.create(model="gemini-2.5-flash", messages=ask["messages"]).choices[0].message
    assert plain.annotations is None  # no web_search_options: no search, no annotations
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(**{**ask, "web_search_options": "yes"})  # type: ignore[call-overload]
    assert bad.value.param == "web_search_options"


def test_structured_output_with_parse(client: openai.OpenAI) -> None:
    completion = client.chat.completions.parse(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "Invent a person"}], response_format=Person
    )
    person = completion.choices[0].message.parsed
    assert isinstance(person, Person)


def test_json_object_mode(client: openai.OpenAI) -> None:
    import json

    reply = client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "json please"}],
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(reply.choices[0].message.content or ""), dict)


def test_image_as_data_url(client: openai.OpenAI) -> None:
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    reply = client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
                ],
            }
        ],
    )
    assert reply.choices[0].message.content == "Simulated reply to turn 1: What is this?"
    assert reply.usage is not None and reply.usage.prompt_tokens > 0


def test_image_url_to_loopback_is_refused(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="gemini-2.5-flash",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "http://127.0.0.1:9/secret.png"}},
                    ],
                }
            ],
        )
    body = info.value.body
    assert isinstance(body, dict) and "messages[0].content[0]" in str(body.get("param"))
    assert "private or local" in str(body.get("message"))

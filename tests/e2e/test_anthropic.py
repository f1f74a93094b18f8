"""The real `anthropic` SDK against the proxy's /v1/messages in front of the simulator, in process.

The SDK speaks ``httpx2``; ``Portal`` hands its requests to the in-process proxy (``tests.inprocess``).
"""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Iterator

import anthropic
import httpx
import httpx2
import pytest

from gemini_proxy.api import anthropic as route
from tests.inprocess import Local, LocalServer, LocalSimulator

WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
}


class Portal(httpx2.BaseTransport):
    """An ``httpx2`` transport onto an in-process server's ``httpx`` client."""

    def __init__(self, server: LocalServer) -> None:
        self.http = server.http

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        forwarded = httpx.Request(request.method, str(request.url), headers=request.headers.raw, content=request.read())
        answer = self.http.send(forwarded)
        return httpx2.Response(answer.status_code, headers=answer.headers.raw, content=answer.content, request=request)


def sdk(server: LocalServer, *, api_key: str = "unused", max_retries: int = 0) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.url, api_key=api_key, max_retries=max_retries,
                               http_client=httpx2.Client(transport=Portal(server)))  # fmt: skip


@pytest.fixture
def sim(local: Local) -> LocalSimulator:
    return local.simulator()


@pytest.fixture
def proxy(local: Local, sim: LocalSimulator) -> LocalServer:
    return local.proxy(sim, max_wait=0)


@pytest.fixture
def client(proxy: LocalServer) -> Iterator[anthropic.Anthropic]:
    with sdk(proxy) as made:
        yield made


def png() -> bytes:
    """A 1x1 red PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(
        b"IEND", b""
    )


def test_create_with_a_claude_name(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model="claude-sonnet-4-5-20250929", max_tokens=200, system=[{"type": "text", "text": "Be brief.",
                                                                      "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": "Hello there"}], metadata={"user_id": "u-1"},
    )  # fmt: skip
    assert message.id.startswith("msg_") and message.type == "message" and message.role == "assistant"
    assert message.model == "claude-sonnet-4-5-20250929"
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == "[system: Be brief.] Simulated reply to turn 1: Hello there"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


def test_count_tokens_is_the_usage_of_the_same_request(client: anthropic.Anthropic) -> None:
    request = {"model": "gemini-2.5-flash", "system": "Be brief.", "tools": [WEATHER],
               "messages": [{"role": "user", "content": "How many tokens is this question"}]}  # fmt: skip
    counted = client.messages.count_tokens(**request)
    message = client.messages.create(max_tokens=100, **request)
    assert counted.input_tokens == message.usage.input_tokens > 6  # system + text + the tool declaration


def test_stream_helper(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model="gemini-2.5-flash", max_tokens=200, messages=[{"role": "user", "content": "Stream a few words please"}]
    ) as stream:
        texts = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(texts) > 1  # the simulator's chunks arrive as separate deltas
    assert "".join(texts) == "Simulated reply to turn 1: Stream a few words please"
    assert final.content[0].text == "".join(texts)
    assert final.stop_reason == "end_turn"
    unary = client.messages.create(
        model="gemini-2.5-flash", max_tokens=200, messages=[{"role": "user", "content": "Stream a few words please"}]
    )
    assert final.usage.input_tokens == unary.usage.input_tokens  # the final chunk's exact usage
    assert final.usage.output_tokens == unary.usage.output_tokens


def test_stream_wire_format_and_query_string(proxy: LocalServer) -> None:
    body = {"model": "gemini-2.5-flash", "max_tokens": 100, "stream": True,
            "messages": [{"role": "user", "content": "Hello"}]}  # fmt: skip
    answer = proxy.http.post("/v1/messages?beta=true", json=body, headers={
        "anthropic-version": "2023-06-01", "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert answer.headers["request-id"].startswith("req_")
    names = [line.removeprefix("event: ") for line in answer.text.splitlines() if line.startswith("event: ")]
    assert names[0] == "message_start" and names[1] == "content_block_start"
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert "content_block_delta" in names


def test_ping_while_gemini_is_silent(local: Local, monkeypatch: pytest.MonkeyPatch) -> None:
    sim = local.simulator("--chunk-delay", "0.2", "--stream-chunks", "3")
    proxy = local.proxy(sim)
    monkeypatch.setattr(route, "PING_INTERVAL", 0.05)
    body = {"model": "gemini-2.5-flash", "max_tokens": 100, "stream": True,
            "messages": [{"role": "user", "content": "Hello"}]}  # fmt: skip
    answer = proxy.http.post("/v1/messages", json=body)
    names = [line.removeprefix("event: ") for line in answer.text.splitlines() if line.startswith("event: ")]
    assert names[0] == "message_start" and "ping" in names[1:]  # between Gemini's chunks
    assert names.count("message_start") == 1 and names[-1] == "message_stop"
    with sdk(proxy) as client:  # the SDK's stream helper skips pings
        with client.messages.stream(model="gemini-2.5-flash", max_tokens=50,
                                    messages=[{"role": "user", "content": "Hi"}]) as stream:  # fmt: skip
            assert stream.get_final_message().content[0].text == "Simulated reply to turn 1: Hi"


def test_error_after_the_first_byte_is_an_error_event(proxy: LocalServer, sim: LocalSimulator) -> None:
    sim.http.post("/_sim/config", json={"stream_chunks": 4}).raise_for_status()
    fault = {"status": 500, "after_chunks": 1, "mid_stream_error": True}
    sim.http.post("/_sim/fail-next", json=fault).raise_for_status()
    body = {"model": "gemini-2.5-flash", "max_tokens": 100, "stream": True,
            "messages": [{"role": "user", "content": "one two three four five six"}]}  # fmt: skip
    answer = proxy.http.post("/v1/messages", json=body)
    assert answer.status_code == 200
    assert "event: text_delta" not in answer.text and "event: message_start" in answer.text
    tail = answer.text.strip().splitlines()
    assert tail[-2] == "event: error"
    assert '"type":"error"' in tail[-1] and "message_stop" not in answer.text


@pytest.mark.parametrize("model", ["gemini-2.5-flash", "gemini-3-flash-preview"])
@pytest.mark.parametrize("keep_thinking", [True, False])
def test_tools_round_trip(client: anthropic.Anthropic, model: str, keep_thinking: bool) -> None:
    question = {"role": "user", "content": "What is the weather in Paris? Use get_weather"}
    first = client.messages.create(model=model, max_tokens=500, tools=[WEATHER], messages=[question])
    assert first.stop_reason == "tool_use"
    uses = [block for block in first.content if block.type == "tool_use"]
    assert len(uses) == 1 and uses[0].name == "get_weather" and uses[0].id.startswith("toolu_")
    assert isinstance(uses[0].input, dict) and isinstance(uses[0].input["city"], str)
    if model.startswith("gemini-3"):  # the call's thought signature rides on a thinking block before it
        k = first.content.index(uses[0])
        assert k > 0 and first.content[k - 1].type == "thinking" and first.content[k - 1].signature
    assistant = [b.model_dump(exclude_none=True) for b in first.content
                 if keep_thinking or b.type not in ("thinking", "redacted_thinking")]  # fmt: skip
    result = {"type": "tool_result", "tool_use_id": uses[0].id, "content": '{"temperature": 21}'}
    second = client.messages.create(
        model=model, max_tokens=500, tools=[WEATHER],
        messages=[question, {"role": "assistant", "content": assistant}, {"role": "user", "content": [result]}],
    )
    assert second.stop_reason == "end_turn"
    text = "".join(b.text for b in second.content if b.type == "text")
    assert text.endswith('function get_weather returned {"output":"{\\"temperature\\": 21}"}'), text


def test_streamed_tool_use(client: anthropic.Anthropic) -> None:
    with client.messages.stream(model="gemini-3-flash-preview", max_tokens=500, tools=[WEATHER],
                                messages=[{"role": "user", "content": "get_weather for Oslo"}]) as stream:  # fmt: skip
        final = stream.get_final_message()
    kinds = [block.type for block in final.content]
    assert "tool_use" in kinds and final.stop_reason == "tool_use"
    use = next(block for block in final.content if block.type == "tool_use")
    assert isinstance(use.input, dict) and "city" in use.input


def test_tool_choice_any(client: anthropic.Anthropic) -> None:
    message = client.messages.create(model="gemini-2.5-flash", max_tokens=300, tools=[WEATHER],
                                     tool_choice={"type": "any"},
                                     messages=[{"role": "user", "content": "Anything at all"}])  # fmt: skip
    assert message.stop_reason == "tool_use"


def test_thinking(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model="gemini-2.5-flash", max_tokens=4000, thinking={"type": "enabled", "budget_tokens": 2048},
        messages=[{"role": "user", "content": "Think first"}],
    )
    assert [block.type for block in message.content][0] == "thinking"
    assert message.content[0].thinking
    assert message.content[-1].text == "Simulated reply to turn 1: Think first"
    assert message.usage.output_tokens_details is not None
    assert message.usage.output_tokens_details.thinking_tokens > 0
    with client.messages.stream(
        model="gemini-2.5-flash", max_tokens=4000, thinking={"type": "enabled", "budget_tokens": 2048},
        messages=[{"role": "user", "content": "Think first"}],
    ) as stream:
        kinds = {event.delta.type for event in stream if event.type == "content_block_delta"}
    assert {"thinking_delta", "text_delta"} <= kinds
    omitted = client.messages.create(
        model="gemini-2.5-flash", max_tokens=4000, messages=[{"role": "user", "content": "Think first"}],
        thinking={"type": "enabled", "budget_tokens": 2048, "display": "omitted"},
    )
    assert all(block.type != "thinking" or not block.thinking for block in omitted.content)


def test_image(client: anthropic.Anthropic) -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": base64.b64encode(png()).decode()}}  # fmt: skip
    content = [image, {"type": "text", "text": "What is in this picture"}]
    count = client.messages.count_tokens
    with_image = count(model="gemini-2.5-flash", messages=[{"role": "user", "content": content}])
    without = count(model="gemini-2.5-flash", messages=[{"role": "user", "content": content[1:]}])
    assert with_image.input_tokens > without.input_tokens  # the image went to Gemini
    message = client.messages.create(model="gemini-2.5-flash", max_tokens=100,
                                     messages=[{"role": "user", "content": content}])
    assert message.content[0].text == "Simulated reply to turn 1: What is in this picture"
    assert message.usage.input_tokens == with_image.input_tokens


def test_models_list_in_anthropic_shape(client: anthropic.Anthropic) -> None:
    models = list(client.models.list(limit=3))  # pages through has_more / last_id
    ids = [model.id for model in models]
    assert "gemini-2.5-flash" in ids and len(ids) == len(set(ids)) > 3
    assert all(model.type == "model" and model.display_name for model in models)
    assert "gemini-embedding-001" not in ids
    assert client.models.retrieve("gemini-2.5-pro").display_name == "Gemini 2.5 Pro"


def test_models_list_without_anthropic_version_stays_openai(proxy: LocalServer) -> None:
    assert proxy.http.get("/v1/models").json()["object"] == "list"


def test_bad_request(client: anthropic.Anthropic, proxy: LocalServer) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": "x"}],
                               max_tokens=10, extra_body={"temperature": 5})  # fmt: skip
    assert caught.value.body["error"]["type"] == "invalid_request_error"
    assert caught.value.body["error"]["message"].startswith("temperature")
    assert caught.value.request_id and caught.value.request_id.startswith("req_")
    no_limit = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}]}
    answer = proxy.http.post("/v1/messages", json=no_limit)
    assert answer.status_code == 400 and "max_tokens" in answer.json()["error"]["message"]  # Anthropic's rule
    answer = proxy.http.post("/v1/messages", content=b"{not json")
    assert answer.status_code == 400 and answer.json()["type"] == "error"


def test_unmapped_claude_model(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.create(model="claude-unknown-9", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert "GEMINI_PROXY_ANTHROPIC_MODELS" in caught.value.message
    assert caught.value.body["error"]["type"] == "not_found_error"


def test_claude_model_table_setting(local: Local, sim: LocalSimulator) -> None:
    proxy = local.proxy(sim, anthropic_models="claude-special=gemini-2.0-flash,sonnet=gemini-3-flash-preview")
    with sdk(proxy) as client:
        special = client.messages.create(model="claude-special", max_tokens=10,
                                         messages=[{"role": "user", "content": "x"}])  # fmt: skip
        assert special.model == "claude-special"
        with pytest.raises(anthropic.NotFoundError):  # the table replaces the default one
            client.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": "x"}])


def test_authentication(local: Local, sim: LocalSimulator) -> None:
    proxy = local.proxy(sim, auth_tokens="client-token-1")
    with sdk(proxy, api_key="wrong") as client, pytest.raises(anthropic.AuthenticationError) as caught:
        client.messages.create(model="gemini-2.5-flash", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert caught.value.body["error"]["type"] == "authentication_error"
    assert "wrong" not in caught.value.message
    with sdk(proxy, api_key="client-token-1") as client:  # sent as x-api-key
        assert client.messages.count_tokens(model="gemini-2.5-flash",
                                            messages=[{"role": "user", "content": "x"}]).input_tokens == 1  # fmt: skip


def test_rate_limit_and_retry(client: anthropic.Anthropic, proxy: LocalServer, sim: LocalSimulator) -> None:
    sim.http.post("/_sim/fail-next", json={"status": 429, "count": 3, "retry_delay": "1s"}).raise_for_status()
    with pytest.raises(anthropic.RateLimitError) as caught:
        client.messages.create(model="gemini-2.5-flash", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert caught.value.response.headers["retry-after"] == "1"
    assert caught.value.body["error"]["type"] == "rate_limit_error"
    sim.http.post("/_sim/reset").raise_for_status()
    sim.http.post("/_sim/fail-next", json={"status": 429, "count": 3, "retry_delay": "1s"}).raise_for_status()
    with sdk(proxy, max_retries=2) as patient:  # the SDK waits the retry-after and tries again
        message = patient.messages.create(model="gemini-2.5-flash", max_tokens=50,
                                          messages=[{"role": "user", "content": "again"}])  # fmt: skip
    assert message.content[0].text == "Simulated reply to turn 1: again"


def test_overloaded(client: anthropic.Anthropic, sim: LocalSimulator) -> None:
    sim.http.post("/_sim/fail-next", json={"status": 503, "count": 20}).raise_for_status()
    with pytest.raises(anthropic.APIStatusError) as caught:
        client.messages.create(model="gemini-2.5-flash", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 529
    assert caught.value.body["error"]["type"] == "overloaded_error"


def test_what_no_route_answers_is_in_anthropic_shape(local: Local, sim: LocalSimulator) -> None:
    proxy = local.proxy(sim, max_request_bytes=1024)
    missing = proxy.http.post("/v1/messages/batches", json={})
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
    assert missing.headers["request-id"].startswith("req_")
    wrong = proxy.http.get("/v1/messages")
    assert wrong.status_code == 405 and wrong.json()["type"] == "error"
    big = {"model": "gemini-2.5-flash", "max_tokens": 5, "messages": [{"role": "user", "content": "x" * 4000}]}
    too_large = proxy.http.post("/v1/messages", json=big)
    assert too_large.status_code == 413 and too_large.json()["error"]["type"] == "request_too_large"

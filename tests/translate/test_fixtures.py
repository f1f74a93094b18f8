"""Every recorded generateContent answer and stream goes through the translation.

Outputs are validated against OpenAI's published schemas and checked for the facts each
recording shows (usage numbers, finish reasons, tool calls, signatures, thoughts, blocks).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson
import pytest

from gemini_proxy.errors import UpstreamStatusError
from gemini_proxy.translate import ChatCall, ChatStreamTranslator, signatures_of, to_chat_completion

from .helpers import GEMINI_FIXTURES, OPENAI_FIXTURES, assert_valid, counter, fixture_names, load_json, load_stream

CALL = ChatCall(
    model="gemini-2.5-flash",
    requested_model="gpt-4o",
    gemini_body={},
    stream=True,
    include_usage=True,
    include_thoughts=True,
    n=1,
)

UNARY: dict[str, dict[str, Any]] = {
    "fb-unary-text-basic.json": {
        "content_start": "Google's headquarters, also known as the Googleplex",
        "finish": "stop",
        "usage": (7, 22, 29, 0),
    },
    "fb-unary-thinking-function-call-signature.json": {
        "reasoning_start": "**Thinking Through the New Year's Eve Calculation**",
        "content": None,
        "tools": [("now", "{}", True)],
        "finish": "tool_calls",
        "usage": (38, 8 + 501, 547, 501),
    },
    "pai-unary-max-tokens.json": {"content": "The capital of France is", "finish": "length", "usage": (15, 5, 20, 0)},
    "pai-unary-max-tokens-thinking-no-parts.json": {"content": None, "finish": "length", "usage": (15, 2, 17, 2)},
    "pai-unary-parallel-function-calls-gemini3.json": {
        "content": None,
        "tools": [("generate_topic", "{}", True), ("generate_topic", "{}", False), ("generate_topic", "{}", False)],
        "finish": "tool_calls",
        "usage": (83, 30 + 190, 303, 190),
    },
    "pai-unary-safety-blocked-candidate.json": {
        "content": None,
        "refusal_contains": "SAFETY",
        "finish": "content_filter",
        "usage": (14, 0, 14, 0),
    },
    "cookbook-unary-prompt-blocked.json": {
        "content": None,
        "refusal_contains": "blockReason: SAFETY",
        "finish": "content_filter",
        "usage": (0, 0, 0, 0),
    },
}

STREAMS: dict[str, dict[str, Any]] = {
    "fb-stream-text-basic.sse": {
        "content": "The capital of Wyoming is **Cheyenne**.\n",
        "finish": "stop",
        "usage": (7, 10, 17, 0),
    },
    "pai-stream-text-crlf.sse": {
        "content": "The capital of France is Paris.\n",
        "finish": "stop",
        "usage": (13, 8, 21, 0),
    },
    "cookbook-stream-sse-2024-jupyter.sse": {
        "content_start": "In the quaint, sunlit cottage",
        "finish": "stop",
        "usage": (0, 0, 0, 0),
    },
    "fb-stream-content-without-parts.sse": {
        "content": "Here's a cute cartoon kitten playing with a ball of yarn for you! ",
        "images": 1,
        "finish": "stop",
        "usage": (16, 1307, 1323, 0),
    },
    "fb-stream-prompt-blocked.sse": {
        "content": None,
        "refusal_contains": "blockReason: SAFETY",
        "finish": "content_filter",
        "usage": (0, 0, 0, 0),
    },
    "fb-stream-recitation.sse": {
        "content_start": "text1text2text3",
        "finish": "content_filter",
        "usage": (9, 261, 270, 0),
    },
    "fb-stream-thinking-function-call-signature.sse": {
        "reasoning_start": "**Calculating the Days**",
        "content": None,
        "tools": [("now", "{}", True)],
        "finish": "tool_calls",
        "usage": (38, 6 + 168, 212, 168),
    },
    "fb-stream-thinking-text.sse": {
        "reasoning_start": "**Exploring Sky Color**",
        "content_start": "The sky is blue because",
        "finish": "stop",
        "usage": (10, 48 + 540, 598, 540),
    },
    "pai-stream-thinking-25pro.sse": {
        "reasoning_start": "**",
        "content_start": "",
        "finish": "stop",
        "text_signature": True,
        "usage": (34, 469 + 787, 1290, 787),
    },
    "pai-stream-function-call-20flash.sse": {
        "content": None,
        "tools": [("get_capital", '{"country":"France"}', False)],
        "finish": "tool_calls",
        "usage": (52, 5, 57, 0),
    },
    "pai-stream-gemini3-function-call-signature.sse": {
        "content": None,
        "tools": [("get_country", "{}", True)],
        "finish": "tool_calls",
        "usage": (29, 10 + 202, 241, 202),
    },
    "pai-stream-gemini3-after-tool.sse": {
        "content": "The capital of Mexico is Mexico City.",
        "finish": "stop",
        "usage": (257, 8, 265, 0),
    },
    "llmg-stream-jsonarray-25flash-thought-then-call.json": {
        "reasoning_start": "**Generating Pelican Names**",
        "content": None,
        "tools": [("pelican_name_generator", "{}", True)],
        "finish": "tool_calls",
        "usage": (32, 12 + 42, 86, 42),
    },
    "llmg-stream-jsonarray-gemini3-after-tool.json": {
        "content": "5 times 3 is 15.",
        "finish": "stop",
        "usage": (121, 9, 130, 0),
    },
    "llmg-stream-jsonarray-gemini3-function-call.json": {
        "content": None,
        "tools": [("multiply", '{"y":3,"x":5}', True)],
        "finish": "tool_calls",
        "usage": (60, 16 + 32, 108, 32),
    },
    "llmg-stream-jsonarray-gemini36-text-signature.json": {
        "content": "Hello! How can I help you today?",
        "text_signature": True,
        "finish": "stop",
        "usage": (2, 9 + 179, 190, 179),
    },
    "fb-vertex-stream-error-mid-stream.sse": {"content": "First Second ", "finish": "stop", "usage": (0, 0, 0, 0)},
}


def test_every_generate_fixture_is_covered() -> None:
    names = set(fixture_names("*unary*.json", "*.sse", "*-stream-*.json"))
    assert names == set(UNARY) | set(STREAMS)
    assert GEMINI_FIXTURES.is_dir()


def _check_usage(usage: dict[str, Any], expected: tuple[int, int, int, int]) -> None:
    prompt, completion, total, reasoning = expected
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (prompt, completion, total)
    assert usage["completion_tokens_details"]["reasoning_tokens"] == reasoning
    assert usage["prompt_tokens_details"]["cached_tokens"] == 0


def _check_message(msg: dict[str, Any], finish: str, facts: dict[str, Any]) -> None:
    assert finish == facts["finish"]
    if "content" in facts:
        assert msg["content"] == facts["content"]
    if "content_start" in facts:
        assert msg["content"] is not None and msg["content"].startswith(facts["content_start"])
    if "reasoning_start" in facts:
        assert msg.get("reasoning_content", "").startswith(facts["reasoning_start"])
        assert msg["reasoning_content"] != ""
    else:
        assert "reasoning_content" not in msg
    if "refusal_contains" in facts:
        assert facts["refusal_contains"] in msg["refusal"]
    else:
        assert msg.get("refusal") is None
    calls = msg.get("tool_calls", [])
    got = [(c["function"]["name"], c["function"]["arguments"], "extra_content" in c) for c in calls]
    assert got == facts.get("tools", [])
    assert len({c["id"] for c in calls}) == len(calls)
    assert len(msg.get("images", [])) == facts.get("images", 0)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_fixture(name: str) -> None:
    facts = UNARY[name]
    completion = to_chat_completion(
        load_json(name), call=CALL, completion_id="chatcmpl-1", created=1700000000, new_call_id=counter()
    )
    assert_valid("CreateChatCompletionResponse", completion)
    assert (completion["id"], completion["object"], completion["created"], completion["model"]) == (
        "chatcmpl-1",
        "chat.completion",
        1700000000,
        "gpt-4o",
    )
    assert len(completion["choices"]) == 1
    choice = completion["choices"][0]
    assert choice["index"] == 0 and choice["logprobs"] is None
    _check_message(choice["message"], choice["finish_reason"], facts)
    _check_usage(completion["usage"], facts["usage"])
    sigs = signatures_of(completion)
    assert set(sigs) == {c["id"] for c in choice["message"].get("tool_calls", []) if "extra_content" in c}


def _run_stream(name: str, call: ChatCall = CALL) -> tuple[list[dict[str, Any]], ChatStreamTranslator]:
    translator = ChatStreamTranslator(call, completion_id="chatcmpl-9", created=1700000001, new_call_id=counter())
    chunks = [c for event in load_stream(name) for c in translator.feed(event)]
    chunks += translator.finish()
    assert translator.finish() == []  # idempotent
    return chunks, translator


def _assemble(chunks: list[dict[str, Any]]) -> tuple[dict[str, Any], str | None]:
    msg: dict[str, Any] = {}
    finish = None
    for chunk in chunks:
        for choice in chunk["choices"]:
            assert choice["index"] == 0
            delta = choice["delta"]
            assert finish is None, "nothing may follow the finish chunk"
            if choice["finish_reason"] is not None:
                assert set(delta) <= {"extra_content"}, delta  # only a text part's thought signature
                finish = choice["finish_reason"]
            for key in ("content", "reasoning_content", "refusal"):
                if delta.get(key) is not None:
                    msg[key] = msg.get(key, "") + delta[key]
            for tc in delta.get("tool_calls", []):
                assert tc["function"]["arguments"], "Gemini calls arrive whole: one complete fragment"
                msg.setdefault("tool_calls", []).append(tc)
            msg.setdefault("images", []).extend(delta.get("images", []))
    msg.setdefault("content", None)
    return msg, finish


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_stream_fixture(name: str) -> None:
    facts = STREAMS[name]
    chunks, translator = _run_stream(name)
    for chunk in chunks:
        assert_valid("CreateChatCompletionStreamResponse", chunk)
        assert (chunk["id"], chunk["object"], chunk["created"], chunk["model"]) == (
            "chatcmpl-9",
            "chat.completion.chunk",
            1700000001,
            "gpt-4o",
        )
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert sum("role" in c["choices"][0]["delta"] for c in chunks if c["choices"]) == 1
    assert all(c["choices"][0]["delta"].get("content") != "" for c in chunks[1:] if c["choices"])
    usage_chunk = chunks[-1]
    assert usage_chunk["choices"] == []
    assert all(c["usage"] is None for c in chunks[:-1])
    _check_usage(usage_chunk["usage"], facts["usage"])
    msg, finish = _assemble(chunks[:-1])
    assert finish is not None
    _check_message(msg, finish, facts)
    for index, tc in enumerate(msg.get("tool_calls", [])):
        assert tc["index"] == index and tc["type"] == "function" and tc["id"].startswith("call_")
    expected_sigs = {tc["id"] for tc in msg.get("tool_calls", []) if "extra_content" in tc}
    assert set(translator.signatures) == expected_sigs
    merged: dict[str, str] = {}
    for chunk in chunks:
        merged.update(signatures_of(chunk))
    assert merged == translator.signatures
    finish_deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert any("extra_content" in d for d in finish_deltas) == facts.get("text_signature", False)


def test_stream_without_include_usage_has_no_usage_key() -> None:
    chunks, _ = _run_stream("fb-stream-text-basic.sse", replace(CALL, include_usage=False))
    assert all("usage" not in c for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_stream_without_include_thoughts_drops_thoughts() -> None:
    chunks, _ = _run_stream("fb-stream-thinking-text.sse", replace(CALL, include_thoughts=False))
    msg, finish = _assemble(chunks[:-1])
    assert "reasoning_content" not in msg and msg["content"].startswith("The sky is blue")
    # the first delta that goes out is the answer text, and it carries the role
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"


def test_stream_text_is_not_buffered() -> None:
    translator = ChatStreamTranslator(CALL, completion_id="c", created=1, new_call_id=counter())
    events = load_stream("fb-stream-text-basic.sse")
    first = translator.feed(events[0])
    assert [c["choices"][0]["delta"] for c in first] == [{"role": "assistant", "content": "The"}]
    assert [c["choices"][0]["delta"] for c in translator.feed(events[1])] == [{"content": " capital of Wyoming"}]


def test_unary_fixture_without_thoughts() -> None:
    call = replace(CALL, include_thoughts=False)
    completion = to_chat_completion(
        load_json("fb-unary-thinking-function-call-signature.json"),
        call=call,
        completion_id="x",
        created=1,
        new_call_id=counter(),
    )
    assert "reasoning_content" not in completion["choices"][0]["message"]


def test_mid_stream_error_chunk() -> None:
    translator = ChatStreamTranslator(CALL, completion_id="c", created=1, new_call_id=counter())
    for event in load_stream("fb-vertex-stream-error-mid-stream.sse"):
        translator.feed(event)
    raw = (GEMINI_FIXTURES / "fb-vertex-stream-error-mid-stream.sse").read_text()
    import orjson

    body = orjson.loads(raw[raw.index("\n{") :])
    chunk = translator.error_chunk(UpstreamStatusError(499, body))
    assert_valid("ErrorResponse", chunk)
    assert chunk["error"]["message"] == "The operation was cancelled."


def test_the_spec_validator_accepts_real_openai_chunks() -> None:
    # The validator every test above relies on accepts what api.openai.com itself streamed, and so
    # does the framing our streams follow: ``data: <json>`` events, LF-separated, closed by [DONE].
    raw = (OPENAI_FIXTURES / "openai-chat-stream-tool-call-include-usage.sse").read_text()
    events = [block[len("data: ") :] for block in raw.split("\n\n") if block.strip()]
    assert events[-1] == "[DONE]"
    for event in events[:-1]:
        assert_valid("CreateChatCompletionStreamResponse", orjson.loads(event))


def test_the_spec_validator_accepts_real_openai_errors() -> None:
    for name in ("openai-err-400-invalid-param.json", "openai-err-404-model-not-found.json"):
        assert_valid("ErrorResponse", orjson.loads((OPENAI_FIXTURES / name).read_bytes()))

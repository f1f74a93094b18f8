"""Response and stream behaviours that no recording shows: n > 1, parallel_tool_calls false,
legacy functions, logprobs, empty answers."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from gemini_proxy.translate import ChatCall, ChatStreamTranslator, to_chat_completion

from .helpers import assert_valid, counter

CALL = ChatCall(
    model="gemini-2.5-flash",
    requested_model="m",
    gemini_body={},
    stream=False,
    include_usage=False,
    include_thoughts=False,
    n=1,
)


def cand(*parts: dict[str, Any], index: int | None = None, finish: str | None = "STOP") -> dict[str, Any]:
    c: dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}}
    if index is not None:
        c["index"] = index
    if finish:
        c["finishReason"] = finish
    return c


def fc(name: str, sig: str | None = None, **args: Any) -> dict[str, Any]:
    part: dict[str, Any] = {"functionCall": {"name": name, "args": args}}
    if sig:
        part["thoughtSignature"] = sig
    return part


def complete(resp: dict[str, Any], call: ChatCall = CALL) -> dict[str, Any]:
    out = to_chat_completion(resp, call=call, completion_id="id", created=5, new_call_id=counter())
    assert_valid("CreateChatCompletionResponse", out)
    return out


def stream(events: list[dict[str, Any]], call: ChatCall = CALL) -> list[dict[str, Any]]:
    t = ChatStreamTranslator(call, completion_id="id", created=5, new_call_id=counter())
    chunks = [c for e in events for c in t.feed(e)] + t.finish()
    for c in chunks:
        assert_valid("CreateChatCompletionStreamResponse", c)
    return chunks


@pytest.mark.parametrize(
    ("finish", "expected"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("LANGUAGE", "content_filter"),
        ("IMAGE_SAFETY", "content_filter"),
        ("IMAGE_PROHIBITED_CONTENT", "content_filter"),
        ("OTHER", "stop"),
        ("MALFORMED_FUNCTION_CALL", "stop"),
        ("UNEXPECTED_TOOL_CALL", "stop"),
        ("TOO_MANY_TOOL_CALLS", "stop"),
        ("SOMETHING_NEW", "stop"),
        (None, "stop"),
    ],
)
def test_finish_reasons(finish: str | None, expected: str) -> None:
    choice = complete({"candidates": [cand({"text": "x"}, finish=finish)]})["choices"][0]
    assert choice["finish_reason"] == expected
    chunks = stream([{"candidates": [cand({"text": "x"}, finish=finish)]}])
    assert chunks[-1]["choices"][0]["finish_reason"] == expected


def test_n_candidates_by_index() -> None:
    resp = {"candidates": [cand({"text": "b"}, index=1), cand({"text": "a"}, index=0, finish="MAX_TOKENS")]}
    choices = complete(resp, replace(CALL, n=2))["choices"]
    assert [(c["index"], c["message"]["content"], c["finish_reason"]) for c in choices] == [
        (0, "a", "length"),
        (1, "b", "stop"),
    ]


def test_n_streams_each_candidate_under_its_own_index() -> None:
    events = [
        {"candidates": [cand({"text": "a1"}, index=0, finish=None), cand({"text": "b1"}, index=1, finish=None)]},
        {"candidates": [cand(fc("f"), index=1), cand({"text": "a2"}, index=0)]},
    ]
    chunks = stream(events, replace(CALL, n=2))
    by_index: dict[int, list[dict[str, Any]]] = {0: [], 1: []}
    for c in chunks:
        for ch in c["choices"]:
            by_index[ch["index"]].append(ch)
    assert [ch["delta"] for ch in by_index[0]] == [{"role": "assistant", "content": "a1"}, {"content": "a2"}, {}]
    assert by_index[0][-1]["finish_reason"] == "stop"
    assert by_index[1][0]["delta"] == {"role": "assistant", "content": "b1"}
    assert by_index[1][1]["delta"]["tool_calls"][0]["index"] == 0
    assert by_index[1][-1]["finish_reason"] == "tool_calls"


def test_parallel_tool_calls_false_keeps_first_call() -> None:
    resp = {"candidates": [cand(fc("a", sig="c2ln"), fc("b"), fc("c"))]}
    call = replace(CALL, parallel_tool_calls=False)
    calls = complete(resp, call)["choices"][0]["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["a"]
    deltas = [c["choices"][0]["delta"] for c in stream([resp], call) if c["choices"]]
    assert [tc["function"]["name"] for d in deltas for tc in d.get("tool_calls", [])] == ["a"]
    all_calls = complete(resp)["choices"][0]["message"]["tool_calls"]
    assert [c["function"]["name"] for c in all_calls] == ["a", "b", "c"]
    assert [c["id"] for c in all_calls] == ["call_1", "call_2", "call_3"]


def test_text_and_calls_in_one_turn() -> None:
    msg = complete({"candidates": [cand({"text": "Checking."}, fc("weather", city="Paris"))]})["choices"][0]
    assert msg["finish_reason"] == "tool_calls"
    assert msg["message"]["content"] == "Checking."
    assert msg["message"]["tool_calls"][0]["function"] == {"name": "weather", "arguments": '{"city":"Paris"}'}


def test_legacy_functions_answer_with_function_call() -> None:
    call = replace(CALL, legacy_functions=True)
    choice = complete({"candidates": [cand(fc("now"))]}, call)["choices"][0]
    assert choice["finish_reason"] == "function_call"
    assert choice["message"]["function_call"] == {"name": "now", "arguments": "{}"}
    assert "tool_calls" not in choice["message"]
    chunks = stream([{"candidates": [cand(fc("now"))]}], call)
    assert chunks[0]["choices"][0]["delta"] == {
        "role": "assistant",
        "function_call": {"name": "now", "arguments": "{}"},
    }
    assert chunks[-1]["choices"][0]["finish_reason"] == "function_call"


def test_logprobs_mapped_when_asked() -> None:
    result = {
        "chosenCandidates": [{"token": "Hi", "logProbability": -0.1}],
        "topCandidates": [
            {"candidates": [{"token": "Hi", "logProbability": -0.1}, {"token": "Yo", "logProbability": -2.5}]}
        ],
    }
    resp = {"candidates": [{**cand({"text": "Hi"}), "logprobsResult": result}]}
    choice = complete(resp, replace(CALL, logprobs=True))["choices"][0]
    assert choice["logprobs"]["content"][0]["token"] == "Hi"
    assert [t["token"] for t in choice["logprobs"]["content"][0]["top_logprobs"]] == ["Hi", "Yo"]
    assert complete(resp)["choices"][0]["logprobs"] is None
    chunks = stream([resp], replace(CALL, logprobs=True))
    assert chunks[0]["choices"][0]["logprobs"]["content"][0]["logprob"] == -0.1


@pytest.mark.parametrize(
    "resp",
    [
        {},
        {"candidates": []},
        {"candidates": [{}]},
        {"candidates": [{"content": {}}]},
        {"candidates": [{"content": {"role": "model", "parts": []}, "finishReason": "STOP"}]},
        {"candidates": [{"content": {"parts": [{"executableCode": {"code": "1"}}, "junk"]}}]},
    ],
    ids=["empty", "no candidates", "empty candidate", "empty content", "no parts", "unknown parts"],
)
def test_empty_answers_never_raise(resp: dict[str, Any]) -> None:
    choice = complete(resp)["choices"][0]
    assert choice["message"]["content"] is None and choice["finish_reason"] == "stop"
    chunks = stream([resp])
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[-1]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}


def test_empty_final_text_part_keeps_signature_but_sends_nothing() -> None:
    events = [
        {"candidates": [cand({"text": "Hi"}, finish=None)]},
        {"candidates": [cand({"text": "", "thoughtSignature": "c2ln"})]},
    ]
    t = ChatStreamTranslator(CALL, completion_id="id", created=5, new_call_id=counter())
    assert len(t.feed(events[0])) == 1
    assert t.feed(events[1]) == []
    finish = t.finish()[-1]["choices"][0]
    assert finish["delta"] == {"extra_content": {"google": {"thought_signature": "c2ln"}}}
    assert finish["finish_reason"] == "stop"
    merged = {"candidates": [cand({"text": "Hi"}, {"text": "", "thoughtSignature": "c2ln"})]}
    assert complete(merged)["choices"][0]["message"]["extra_content"] == {"google": {"thought_signature": "c2ln"}}


def test_last_finish_reason_wins() -> None:
    events = [
        {"candidates": [cand({"text": "a"}, finish="STOP")]},
        {"candidates": [cand({"text": "b"}, finish="MAX_TOKENS")]},
    ]
    chunks = stream(events)
    finishes = [ch["finish_reason"] for c in chunks for ch in c["choices"] if ch["finish_reason"]]
    assert finishes == ["length"]


def test_usage_from_last_chunk_with_cache_and_tool_prompt() -> None:
    usage = {
        "promptTokenCount": 100,
        "cachedContentTokenCount": 60,
        "toolUsePromptTokenCount": 7,
        "candidatesTokenCount": 5,
        "thoughtsTokenCount": 3,
        "totalTokenCount": 115,
    }
    out = complete({"candidates": [cand({"text": "x"})], "usageMetadata": usage})["usage"]
    assert out == {
        "prompt_tokens": 107,
        "completion_tokens": 8,
        "total_tokens": 115,
        "prompt_tokens_details": {"cached_tokens": 60},
        "completion_tokens_details": {"reasoning_tokens": 3},
    }
    chunks = stream(
        [
            {"candidates": [cand({"text": "x"})], "usageMetadata": {"promptTokenCount": 1}},
            {"candidates": [cand({"text": "y"})], "usageMetadata": usage},
        ],
        replace(CALL, include_usage=True),
    )
    assert chunks[-1]["usage"] == out and chunks[-1]["choices"] == []

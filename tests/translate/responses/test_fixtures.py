"""Every recorded generateContent answer and stream through the Responses translation.

Each body and each event is validated against OpenAI's spec and the openai SDK's types (in
``helpers``), and checked for the facts the recording shows: status, items, text, calls,
thought summaries, signatures carried in ``encrypted_content``, exact usage.
"""

from __future__ import annotations

from typing import Any

import pytest

from ..helpers import fixture_names, load_json, load_stream
from .helpers import call_of, stream, unary

BODY = {"model": "gemini-2.5-flash", "input": "hi", "include": ["reasoning.encrypted_content"],
        "reasoning": {"summary": "auto"}}  # fmt: skip
DONE, MAX, FILTER = ("completed", None), ("incomplete", "max_output_tokens"), ("incomplete", "content_filter")
CALL = ["reasoning", "function_call"]

BLOCKED = "The prompt was blocked by Gemini (blockReason: SAFETY)"
FILTERED = "The response was blocked by Gemini (finishReason: SAFETY)"
T, F = [True], [False]

# name -> (status, item types, text start, calls, summary start, encrypted_content present, usage)
# usage: (input, output, total, reasoning); output counts thoughts (OpenAI counts reasoning in output).
UNARY: dict[str, tuple[Any, ...]] = {
    "cookbook-unary-prompt-blocked.json": (FILTER, ["message"], BLOCKED, [], None, [], (0, 0, 0, 0)),
    "fb-unary-text-basic.json": (DONE, ["message"], "Google's headquarters, also", [], None, [], (7, 22, 29, 0)),
    "fb-unary-thinking-function-call-signature.json": (DONE, CALL, None, [("now", "{}")],
                                                       "**Thinking Through the New", T, (38, 509, 547, 501)),
    "pai-unary-max-tokens-thinking-no-parts.json": (MAX, [], None, [], None, [], (15, 2, 17, 2)),
    "pai-unary-max-tokens.json": (MAX, ["message"], "The capital of France is", [], None, [], (15, 5, 20, 0)),
    "pai-unary-parallel-function-calls-gemini3.json": (DONE, [*CALL, "function_call", "function_call"], None,
                                                       [("generate_topic", "{}")] * 3, None, T, (83, 220, 303, 190)),
    "pai-unary-safety-blocked-candidate.json": (FILTER, ["message"], FILTERED, [], None, [], (14, 0, 14, 0)),
}  # fmt: skip
STREAMS: dict[str, tuple[Any, ...]] = {
    "cookbook-stream-sse-2024-jupyter.sse": (DONE, ["message"], "In the quaint, sunlit", [], None, [], (0, 0, 0, 0)),
    "fb-stream-content-without-parts.sse": (DONE, ["message"], "Here's a cute cartoon kitten", [], None, [],
                                            (16, 1307, 1323, 0)),
    "fb-stream-prompt-blocked.sse": (FILTER, ["message"], BLOCKED, [], None, [], (0, 0, 0, 0)),
    "fb-stream-recitation.sse": (FILTER, ["message"], "text1text2text3text4text5text6text7text8", [], None, [],
                                 (9, 261, 270, 0)),
    "fb-stream-text-basic.sse": (DONE, ["message"], "The capital of Wyoming is **Cheyenne**.\n", [], None, [],
                                 (7, 10, 17, 0)),
    "fb-stream-thinking-function-call-signature.sse": (DONE, CALL, None, [("now", "{}")], "**Calculating the Days**",
                                                       T, (38, 174, 212, 168)),
    "fb-stream-thinking-text.sse": (DONE, ["reasoning", "message"], "The sky is blue because", [],
                                    "**Exploring Sky Color**", F, (10, 588, 598, 540)),
    "fb-vertex-stream-error-mid-stream.sse": (DONE, ["message"], "First Second ", [], None, [], (0, 0, 0, 0)),
    "pai-stream-function-call-20flash.sse": (DONE, ["function_call"], None, [("get_capital", '{"country":"France"}')],
                                             None, [], (52, 5, 57, 0)),
    "pai-stream-gemini3-after-tool.sse": (DONE, ["message"], "The capital of Mexico is Mexico City.", [], None, [],
                                          (257, 8, 265, 0)),
    "pai-stream-gemini3-function-call-signature.sse": (DONE, CALL, None, [("get_country", "{}")], None, T,
                                                       (29, 212, 241, 202)),
    "pai-stream-text-crlf.sse": (DONE, ["message"], "The capital of France is Paris.\n", [], None, [], (13, 8, 21, 0)),
    "pai-stream-thinking-25pro.sse": (DONE, ["reasoning", "message"], "This is a great question!",
                                      [], "**Clarifying User Goals**", T, (34, 1256, 1290, 787)),
    "llmg-stream-jsonarray-25flash-thought-then-call.json": (DONE, CALL, None, [("pelican_name_generator", "{}")],
                                                             "**Generating Pelican Names**", T, (32, 54, 86, 42)),
    "llmg-stream-jsonarray-gemini3-after-tool.json": (DONE, ["message"], "5 times 3 is 15.", [], None, [],
                                                      (121, 9, 130, 0)),
    "llmg-stream-jsonarray-gemini3-function-call.json": (DONE, CALL, None, [("multiply", '{"y":3,"x":5}')], None,
                                                         T, (60, 48, 108, 32)),
    # Gemini 3.6 signs the text: the reasoning item that carries it opens after the message.
    "llmg-stream-jsonarray-gemini36-text-signature.json": (DONE, ["message", "reasoning"],
                                                           "Hello! How can I help you today?", [], None, T,
                                                           (2, 188, 190, 179)),
}  # fmt: skip


def test_every_generate_fixture_is_covered() -> None:
    assert set(fixture_names("*unary*.json", "*.sse", "*-stream-*.json")) == set(UNARY) | set(STREAMS)


def _check(body: dict[str, Any], facts: tuple[Any, ...]) -> None:
    (status, reason), types, text, calls, summary, encrypted, usage = facts
    output = body["output"]
    assert (body["status"], (body["incomplete_details"] or {}).get("reason")) == (status, reason)
    assert [item["type"] for item in output] == types
    texts = [p.get("text", p.get("refusal")) for i in output if i["type"] == "message" for p in i["content"]]
    assert (texts[0] if texts else None) is None if text is None else texts[0].startswith(text)
    got_calls = [(i["name"], i["arguments"]) for i in output if i["type"] == "function_call"]
    assert got_calls == calls
    assert len({i["call_id"] for i in output if i["type"] == "function_call"}) == len(calls)
    summaries = [s["text"] for i in output if i["type"] == "reasoning" for s in i["summary"]]
    assert summaries[0].startswith(summary) if summary else summaries == []
    assert [i["encrypted_content"] is not None for i in output if i["type"] == "reasoning"] == encrypted
    u = body["usage"]
    details = u["output_tokens_details"]["reasoning_tokens"]
    assert (u["input_tokens"], u["output_tokens"], u["total_tokens"], details) == usage
    assert u["input_tokens_details"]["cached_tokens"] == 0
    assert body["id"] == "resp_test" and body["model"] == "gemini-2.5-flash"
    assert body["completed_at"] == (1_700_000_005 if status == "completed" else None)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_fixture(name: str) -> None:
    _check(unary(call_of(BODY), load_json(name)).body, UNARY[name])


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_stream_fixture(name: str) -> None:
    events, result = stream(call_of(BODY), load_stream(name))
    _check(result.body, STREAMS[name])
    deltas = [e for e in events if e["type"].endswith(".delta")]
    if STREAMS[name][2] is not None and "blocked" not in STREAMS[name][2]:
        assert len([e for e in deltas if e["type"] == "response.output_text.delta"]) >= 1


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_stream_and_unary_agree(name: str) -> None:
    """The same answer, streamed or whole (the chunks merged), gives the same output items."""
    chunks = load_stream(name)
    _, streamed = stream(call_of(BODY), chunks)
    firsts = [c["candidates"][0] for c in chunks if c.get("candidates")]
    merged_parts = [p for cand in firsts for p in cand.get("content", {}).get("parts", [])]
    whole = dict(chunks[-1])
    if whole.get("candidates"):
        whole["candidates"] = [{**whole["candidates"][0], "content": {"role": "model", "parts": merged_parts}}]
    assert unary(call_of(BODY), whole).body["output"] == streamed.body["output"]


def test_without_summary_or_encrypted_content_no_reasoning_item() -> None:
    call = call_of({"model": "gemini-2.5-flash", "input": "hi"})
    _, result = stream(call, load_stream("fb-stream-thinking-function-call-signature.sse"))
    assert [i["type"] for i in result.body["output"]] == ["function_call"]
    # ...but the signature is kept in the stored conversation for previous_response_id.
    assert "thoughtSignature" in result.conversation["contents"][-1]["parts"][0]

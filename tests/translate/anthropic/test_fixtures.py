# ruff: noqa: E501  (the tables keep one case per line group; wrapping them would hide their shape)
"""Every recorded Gemini answer and stream through the Anthropic translation.

Each output is validated against the ``anthropic`` SDK's models (unknown fields refused) and checked
for the facts the recording shows: blocks, text, stop reason, usage, signatures; streams are also
run through the SDK's own stream accumulator, and a stream's message goes back as history to
check that each thought signature returns to the part Gemini put it on.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.translate.helpers import fixture_names, load_json, load_stream

from .helpers import accumulate, call, canonical, stream, translate, unary

# name -> (block shapes, text start, stop_reason, (input_tokens, output_tokens))
# shapes: "text", "T" thinking text, "T+S" thinking text + signature, "S" empty thinking + signature,
# "tool:<name>".
Facts = tuple[list[str], str | None, str, tuple[int, int]]
UNARY: dict[str, Facts] = {
    "fb-unary-text-basic.json": (["text"], "Google's headquarters, also known as the Googleplex", "end_turn", (7, 22)),
    "fb-unary-thinking-function-call-signature.json": (["T+S", "tool:now"], None, "tool_use", (38, 509)),
    "pai-unary-max-tokens.json": (["text"], "The capital of France is", "max_tokens", (15, 5)),
    "pai-unary-max-tokens-thinking-no-parts.json": ([], None, "max_tokens", (15, 2)),
    "pai-unary-parallel-function-calls-gemini3.json": (
        ["S", "tool:generate_topic", "tool:generate_topic", "tool:generate_topic"], None, "tool_use", (83, 220)),
    "pai-unary-safety-blocked-candidate.json": ([], None, "refusal", (14, 0)),
    "cookbook-unary-prompt-blocked.json": ([], None, "refusal", (0, 0)),
}  # fmt: skip
STREAMS: dict[str, Facts] = {
    "fb-stream-text-basic.sse": (["text"], "The capital of Wyoming is **Cheyenne**.\n", "end_turn", (7, 10)),
    "pai-stream-text-crlf.sse": (["text"], "The capital of France is Paris.\n", "end_turn", (13, 8)),
    "cookbook-stream-sse-2024-jupyter.sse": (["text"], "In the quaint, sunlit cottage", "end_turn", (0, 0)),
    "fb-stream-content-without-parts.sse": (["text"], "Here's a cute cartoon kitten", "end_turn", (16, 1307)),
    "fb-stream-prompt-blocked.sse": ([], None, "refusal", (0, 0)),
    "fb-stream-recitation.sse": (["text"], "text1text2text3", "refusal", (9, 261)),
    "fb-stream-thinking-function-call-signature.sse": (["T+S", "tool:now"], None, "tool_use", (38, 174)),
    "fb-stream-thinking-text.sse": (["T", "text"], "The sky is blue because", "end_turn", (10, 588)),
    "pai-stream-thinking-25pro.sse": (["T+S", "text"], "", "end_turn", (34, 1256)),
    "pai-stream-function-call-20flash.sse": (["tool:get_capital"], None, "tool_use", (52, 5)),
    "pai-stream-gemini3-function-call-signature.sse": (["S", "tool:get_country"], None, "tool_use", (29, 212)),
    "pai-stream-gemini3-after-tool.sse": (["text"], "The capital of Mexico is Mexico City.", "end_turn", (257, 8)),
    "llmg-stream-jsonarray-25flash-thought-then-call.json": (
        ["T+S", "tool:pelican_name_generator"], None, "tool_use", (32, 54)),
    "llmg-stream-jsonarray-gemini3-after-tool.json": (["text"], "5 times 3 is 15.", "end_turn", (121, 9)),
    "llmg-stream-jsonarray-gemini3-function-call.json": (["S", "tool:multiply"], None, "tool_use", (60, 48)),
    # The signature after the last text is dropped: a message must not end with a thinking block.
    "llmg-stream-jsonarray-gemini36-text-signature.json": (
        ["text"], "Hello! How can I help you today?", "end_turn", (2, 188)),
    "fb-vertex-stream-error-mid-stream.sse": (["text"], "First Second ", "end_turn", (0, 0)),
}  # fmt: skip


def test_every_generate_fixture_is_covered() -> None:
    assert set(fixture_names("*unary*.json", "*.sse", "*-stream-*.json")) == set(UNARY) | set(STREAMS)


def shapes(content: list[dict[str, Any]]) -> list[str]:
    out = []
    for block in content:
        if block["type"] == "thinking":
            out.append("+".join(k for k, v in (("T", block["thinking"]), ("S", block["signature"])) if v))
        elif block["type"] == "tool_use":
            out.append(f"tool:{block['name']}")
        else:
            out.append(block["type"])
    return out


def check(message: dict[str, Any], facts: Facts) -> None:
    blocks, text, reason, (input_tokens, output_tokens) = facts
    assert shapes(message["content"]) == blocks
    if text is not None:
        assert next(b["text"] for b in message["content"] if b["type"] == "text").startswith(text)
    assert message["stop_reason"] == reason
    assert message.get("stop_sequence") is None
    usage = message["usage"]
    assert (usage["input_tokens"], usage["output_tokens"]) == (input_tokens, output_tokens)
    assert usage["cache_read_input_tokens"] == 0 and usage["cache_creation_input_tokens"] == 0
    if reason == "refusal":
        assert "Gemini" in message["stop_details"]["explanation"]
    else:
        assert message.get("stop_details") is None
    ids = [b["id"] for b in message["content"] if b["type"] == "tool_use"]
    assert len(set(ids)) == len(ids) and all(i.startswith("toolu_") for i in ids)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_fixture(name: str) -> None:
    resp = load_json(name)
    message = unary(resp)
    check(message, UNARY[name])
    assert message["id"] == "msg_01" and message["model"] == "claude-sonnet-4-5"
    # The same answer as a one-chunk stream, through the SDK's accumulator: the same message.
    assert accumulate(stream([resp])) == canonical(message)


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_stream_fixture(name: str) -> None:
    events = stream(load_stream(name))
    message = accumulate(events)
    check(message, STREAMS[name])
    start = events[0][1]["message"]
    assert start["stop_reason"] is None and start["content"] == []
    assert start["usage"]["input_tokens"] == load_stream(name)[0].get("usageMetadata", {}).get("promptTokenCount", 0)


def _gemini_signatures(chunks: list[dict[str, Any]]) -> dict[str, str]:
    """Kind of part -> its signature: ``call:<name>``, ``text`` or ``thought``."""
    out = {}
    for chunk in chunks:
        for cand in chunk.get("candidates") or []:
            for part in (cand.get("content") or {}).get("parts") or []:
                if "thoughtSignature" in part:
                    kind = f"call:{part['functionCall']['name']}" if "functionCall" in part else (
                        "thought" if part.get("thought") else "text")  # fmt: skip
                    out.setdefault(kind, part["thoughtSignature"])
    return out


@pytest.mark.parametrize("name", sorted(n for n in STREAMS if "S" in "".join(STREAMS[n][0])))
def test_signatures_go_back_where_gemini_put_them(name: str) -> None:
    """The message goes back as history (with a result for each call): each signature returns to
    the same kind of part -- a call's to that call, a text part's to a text part."""
    chunks = load_stream(name)
    message = accumulate(stream(chunks))
    results = [{"type": "tool_result", "tool_use_id": b["id"], "content": "ok"}
               for b in message["content"] if b["type"] == "tool_use"]  # fmt: skip
    history = [{"role": "user", "content": "go"}, {"role": "assistant", "content": message["content"]}]
    if results:
        history.append({"role": "user", "content": results})
    model = "gemini-3-flash-preview" if "gemini3" in name else "gemini-2.5-flash"
    turn = translate({"model": model, "max_tokens": 100, "messages": history}).gemini_body["contents"][1]
    assert turn["role"] == "model"
    got = {}
    for part in turn["parts"]:
        if "thoughtSignature" in part:
            kind = f"call:{part['functionCall']['name']}" if "functionCall" in part else (
                "thought" if part.get("thought") else "text")  # fmt: skip
            got[kind] = part["thoughtSignature"]
    assert got == _gemini_signatures(chunks)
    assert [p for p in turn["parts"] if p.get("thought")] == [
        {"text": b["thinking"], "thought": True} for b in message["content"] if b["type"] == "thinking" and b["thinking"]
    ]


def test_thoughts_are_dropped_unless_asked_for() -> None:
    events = stream(load_stream("fb-stream-thinking-function-call-signature.sse"), call(include_thoughts=False))
    assert shapes(accumulate(events)["content"]) == ["S", "tool:now"]
    assert not any(e[1].get("delta", {}).get("type") == "thinking_delta" for e in events)


def test_a_text_signature_is_written_only_when_another_part_follows() -> None:
    """A signature on (or after) the last text would make a message end with a thinking block,
    which Claude Code takes as its (empty) answer: it is dropped. Followed by another part, it
    stays between the two, where ``content.py`` finds it."""

    def chunk(*parts: dict[str, Any]) -> dict[str, Any]:
        return {"candidates": [{"content": {"role": "model", "parts": list(parts)}}]}

    ending = [chunk({"text": "Hello"}), chunk({"text": "", "thoughtSignature": "c2lnMQ=="})]
    assert shapes(accumulate(stream(ending, call("gemini-3-flash-preview")))["content"]) == ["text"]
    assert shapes(unary(chunk({"text": "Hello"}, {"text": "", "thoughtSignature": "c2lnMQ=="}),
                        call("gemini-3-flash-preview"))["content"]) == ["text"]  # fmt: skip
    followed = [*ending, chunk({"text": "more"})]
    message = accumulate(stream(followed, call("gemini-3-flash-preview")))
    assert shapes(message["content"]) == ["text", "S", "text"]
    history = [{"role": "user", "content": "go"}, {"role": "assistant", "content": message["content"]},
               {"role": "user", "content": "next"}]  # fmt: skip
    turn = translate({"model": "gemini-3-flash-preview", "max_tokens": 10, "messages": history}).gemini_body
    assert turn["contents"][1]["parts"] == [{"text": "Hello", "thoughtSignature": "c2lnMQ=="}, {"text": "more"}]

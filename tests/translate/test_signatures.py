"""Thought signatures survive a round trip through clients that drop unknown fields."""

from __future__ import annotations

import pytest

from gemini_proxy.translate import missing_signature_call_ids

from .requests import SIG, USER, body, call_msg, gem


def test_thought_signatures_round_trip() -> None:
    history = [
        USER,
        call_msg(("c1", "now", "{}"), ("c2", "now", "{}")),
        {"role": "tool", "tool_call_id": "c1", "content": "a"},
        {"role": "tool", "tool_call_id": "c2", "content": "b"},
    ]
    history[1]["tool_calls"][0]["extra_content"] = {"google": {"thought_signature": SIG}}
    request = body(model="gemini-3-flash-preview", messages=history)
    assert missing_signature_call_ids(request) == ["c2"]
    parts = gem(request, signatures={"c2": "c3RvcmU="})["contents"][1]["parts"]
    assert [p.get("thoughtSignature") for p in parts] == [SIG, "c3RvcmU="]


def test_signature_from_store() -> None:
    request = body(
        model="gemini-3-flash-preview",
        messages=[USER, call_msg(("c1", "now", "{}")), {"role": "tool", "tool_call_id": "c1", "content": "x"}],
    )
    assert gem(request, signatures={"c1": SIG})["contents"][1]["parts"][0]["thoughtSignature"] == SIG


@pytest.mark.parametrize(
    ("model", "expected"),
    [("gemini-3-flash-preview", ["skip_thought_signature_validator", None]), ("gemini-2.5-flash", [None, None])],
)
def test_signature_bypass_only_on_first_call_of_gemini3_turn(model: str, expected: list[str | None]) -> None:
    history = [
        USER,
        call_msg(("c1", "now", "{}"), ("c2", "now", "{}")),
        {"role": "tool", "tool_call_id": "c1", "content": "a"},
        {"role": "tool", "tool_call_id": "c2", "content": "b"},
    ]
    parts = gem(body(model=model, messages=history))["contents"][1]["parts"]
    assert [p.get("thoughtSignature") for p in parts] == expected


def test_message_level_signature_goes_back_on_last_text_part() -> None:
    msg = {"role": "assistant", "content": "Hello", "extra_content": {"google": {"thought_signature": SIG}}}
    parts = gem(body(messages=[USER, msg, {"role": "user", "content": "x"}]))["contents"][1]["parts"]
    assert parts == [{"text": "Hello", "thoughtSignature": SIG}]

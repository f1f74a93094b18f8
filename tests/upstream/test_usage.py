"""Token counts for key statistics, read from recorded Gemini answers without parsing them."""

from __future__ import annotations

import json

import pytest

from gemini_proxy.upstream.quota import Success
from gemini_proxy.upstream.usage import UsageScanner, usage_outcome
from tests.fixtures import GEMINI_FIXTURES

STREAMS = sorted(p.name for p in GEMINI_FIXTURES.glob("*.sse"))
UNARY = [
    "fb-unary-text-basic.json",
    "fb-unary-thinking-function-call-signature.json",
    "pai-unary-max-tokens.json",
    "pai-unary-max-tokens-thinking-no-parts.json",
    "pai-unary-parallel-function-calls-gemini3.json",
]


def expected(usage: dict) -> Success:
    return Success(
        prompt_tokens=usage.get("promptTokenCount", 0) + usage.get("toolUsePromptTokenCount", 0),
        output_tokens=usage.get("candidatesTokenCount", 0) + usage.get("thoughtsTokenCount", 0),
        thought_tokens=usage.get("thoughtsTokenCount", 0),
    )


def last_usage(raw: bytes) -> dict:
    events = [json.loads(line[6:]) for line in raw.replace(b"\r\n", b"\n").split(b"\n") if line.startswith(b"data: ")]
    usages = [event["usageMetadata"] for event in events if "usageMetadata" in event]
    return usages[-1] if usages else {}


@pytest.mark.parametrize("name", UNARY)
def test_unary_answers(name: str) -> None:
    raw = (GEMINI_FIXTURES / name).read_bytes()
    assert usage_outcome(raw) == expected(json.loads(raw)["usageMetadata"])


@pytest.mark.parametrize("name", STREAMS)
@pytest.mark.parametrize("read_size", [7, 64, 333, 100_000])
def test_streams_count_the_final_usage_however_they_are_read(name: str, read_size: int) -> None:
    raw = (GEMINI_FIXTURES / name).read_bytes()
    scanner = UsageScanner()
    for start in range(0, len(raw), read_size):
        scanner.feed(raw[start : start + read_size])
    assert scanner.outcome() == expected(last_usage(raw))


def test_no_usage_is_zero() -> None:
    assert usage_outcome(b'{"candidates": []}') == Success()
    assert UsageScanner().outcome() == Success()


def test_the_tool_use_prompt_counts_as_prompt() -> None:
    """What built-in tools (search, code execution, URL context) read is billed as prompt, and
    every surface counts it in its client's prompt tokens (``translate.usage.to_usage``)."""
    raw = (
        b'{"candidates": [], "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 5,'
        b' "toolUsePromptTokenCount": 230, "thoughtsTokenCount": 7, "totalTokenCount": 254}}'
    )
    assert usage_outcome(raw) == Success(prompt_tokens=242, output_tokens=12, thought_tokens=7)

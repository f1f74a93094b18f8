"""A job's Gemini request, and its answer read from Google's recorded payloads."""

from __future__ import annotations

import pytest

from gemini_proxy.agents.gemini import AnswerFailure, build_request, read_answer
from gemini_proxy.agents.registry import Agent
from tests.translate.helpers import load_json


def test_request_of_a_plain_agent() -> None:
    agent = Agent("a", "d", "Be terse.")
    assert build_request(agent, "Do it") == {
        "systemInstruction": {"parts": [{"text": "Be terse."}]},
        "contents": [{"role": "user", "parts": [{"text": "Do it"}]}],
    }


def test_request_with_context_and_every_setting() -> None:
    agent = Agent("a", "d", "S", temperature=0.0, max_output_tokens=50, thinking_budget=0,
                  response_mime_type="application/json")
    body = build_request(agent, "Extract", {"b": [1]})
    assert body["contents"][0]["parts"] == [{"text": 'Context:\n{\n  "b": [\n    1\n  ]\n}'}, {"text": "Extract"}]
    assert body["generationConfig"] == {
        "temperature": 0.0, "maxOutputTokens": 50, "responseMimeType": "application/json",
        "thinkingConfig": {"thinkingBudget": 0},
    }
    level = build_request(Agent("a", "d", "S", thinking_level="low"), "t", "plain text context")
    assert level["generationConfig"] == {"thinkingConfig": {"thinkingLevel": "LOW"}}
    assert level["contents"][0]["parts"][0] == {"text": "Context:\nplain text context"}


def test_text_answer_with_exact_usage() -> None:
    result, usage = read_answer(load_json("fb-unary-text-basic.json"), json_mime=False)
    assert result == {
        "text": "Google's headquarters, also known as the Googleplex, is located in **Mountain View, California**.\n",
        "finish_reason": "stop",
        "model_version": "gemini-2.0-flash",
    }
    assert usage == {"prompt_tokens": 7, "completion_tokens": 22, "total_tokens": 29, "reasoning_tokens": 0,
                     "cached_tokens": 0}


def test_thoughts_are_not_the_result_but_count_as_completion_tokens() -> None:
    answer = load_json("fb-unary-thinking-function-call-signature.json")
    result, usage = read_answer(answer, json_mime=False)
    assert result["text"] == ""  # only a thought and a function call
    meta = answer["usageMetadata"]
    assert usage is not None and usage["reasoning_tokens"] == meta["thoughtsTokenCount"]
    assert usage["completion_tokens"] == meta.get("candidatesTokenCount", 0) + meta["thoughtsTokenCount"]


def test_max_tokens_is_length() -> None:
    result, usage = read_answer(load_json("pai-unary-max-tokens.json"), json_mime=False)
    assert result["text"] == "The capital of France is" and result["finish_reason"] == "length"
    assert usage is not None and usage["total_tokens"] == 20
    empty, _ = read_answer(load_json("pai-unary-max-tokens-thinking-no-parts.json"), json_mime=False)
    assert empty["text"] == "" and empty["finish_reason"] == "length"


@pytest.mark.parametrize(
    ("fixture", "words", "prompt_tokens"),
    [
        ("cookbook-unary-prompt-blocked.json", "The prompt was blocked by Gemini (blockReason: SAFETY).", None),
        ("pai-unary-safety-blocked-candidate.json", "The response was blocked by Gemini (finishReason: SAFETY).", 14),
    ],
)
def test_blocked_answers_are_failures_with_their_usage(fixture: str, words: str, prompt_tokens: int | None) -> None:
    with pytest.raises(AnswerFailure) as info:
        read_answer(load_json(fixture), json_mime=False)
    assert info.value.code == "content_filtered" and info.value.message == words
    assert (info.value.usage or {}).get("prompt_tokens") == prompt_tokens


def test_json_answers_are_parsed_when_they_parse() -> None:
    answer = {"candidates": [{"content": {"parts": [{"text": '{"a": 1}'}]}, "finishReason": "STOP"}]}
    result, usage = read_answer(answer, json_mime=True)
    assert result["json"] == {"a": 1} and usage is None
    answer["candidates"][0]["content"]["parts"][0]["text"] = '{"a": '  # cut by MAX_TOKENS, say
    result, _ = read_answer(answer, json_mime=True)
    assert "json" not in result and result["text"] == '{"a": '
    assert "json" not in read_answer(answer, json_mime=False)[0]

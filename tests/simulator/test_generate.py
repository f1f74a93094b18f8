from __future__ import annotations

import jsonschema
import pytest
from google.ai.generativelanguage_v1beta.types import GenerateContentResponse

from tests.simulator.conftest import Sim, user


def answer(body: dict) -> str:
    return "".join(p.get("text", "") for p in body["candidates"][0]["content"]["parts"] if not p.get("thought"))


def test_unary_text_rule_and_proto_parse(sim: Sim) -> None:
    r = sim.generate("gemini-2.0-flash", user("What is the capital of France?"))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json; charset=UTF-8"
    assert r.text.endswith("}\n") and r.text.startswith('{\n  "candidates": [\n')
    body = r.json()
    assert answer(body) == "Simulated reply to turn 1: What is the capital of France?"
    usage = body["usageMetadata"]
    assert usage["candidatesTokenCount"] == 11
    assert usage["promptTokenCount"] == 6
    assert usage["totalTokenCount"] == 17
    assert "thoughtsTokenCount" not in usage
    assert body["modelVersion"] == "gemini-2.0-flash"
    msg = GenerateContentResponse.from_json(r.text, ignore_unknown_fields=False)
    assert msg.candidates[0].finish_reason.name == "STOP"


def test_count_tokens_agrees_with_usage(sim: Sim) -> None:
    req = {
        "contents": [
            {"role": "user", "parts": [{"text": "one two three"}]},
            {"role": "model", "parts": [{"text": "four five"}]},
            {"role": "user", "parts": [{"text": "six"}]},
        ]
    }
    usage = sim.generate("gemini-2.5-flash", req).json()["usageMetadata"]
    count = sim.post("/v1beta/models/gemini-2.5-flash:countTokens", req).json()
    assert count == {"totalTokens": 6, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 6}]}
    assert usage["promptTokenCount"] == count["totalTokens"]


def test_multi_turn_and_system_instruction_shape_reply(sim: Sim) -> None:
    req = {
        "systemInstruction": {"parts": [{"text": "You are terse."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "hi"}]},
            {"role": "model", "parts": [{"text": "hello"}]},
            {"role": "user", "parts": [{"text": "bye"}]},
        ],
    }
    assert (
        answer(sim.generate("gemini-2.0-flash", req).json())
        == "[system: You are terse.] Simulated reply to turn 3: bye"
    )


def test_snake_case_and_single_object_repeated_fields(sim: Sim) -> None:
    req = {
        "system_instruction": {"parts": {"text": "S"}},
        "contents": {"role": "user", "parts": {"text": "x y"}},
        "generation_config": {"max_output_tokens": 100, "thinking_config": {"thinking_budget": 0}},
    }
    r = sim.generate("gemini-2.5-flash", req)
    assert r.status_code == 200, r.text
    assert answer(r.json()) == "[system: S] Simulated reply to turn 1: x y"


def test_candidate_count(sim: Sim) -> None:
    req = {**user("hey"), "generationConfig": {"candidateCount": 3}}
    body = sim.generate("gemini-2.5-flash", req).json()
    texts = [c["content"]["parts"][0]["text"] for c in body["candidates"]]
    assert [c["index"] for c in body["candidates"]] == [0, 1, 2]
    assert len(set(texts)) == 3


def test_max_output_tokens_truncates(sim: Sim) -> None:
    req = {**user("a b c d e f g"), "generationConfig": {"maxOutputTokens": 5, "thinkingConfig": {"thinkingBudget": 0}}}
    body = sim.generate("gemini-2.5-flash", req).json()
    assert answer(body) == "Simulated reply to turn 1:"
    assert body["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert body["usageMetadata"]["candidatesTokenCount"] == 5


def test_max_tokens_used_by_thoughts_gives_no_parts(sim: Sim) -> None:
    req = {**user("think hard"), "generationConfig": {"maxOutputTokens": 4}}
    body = sim.generate("gemini-2.5-pro", req).json()
    cand = body["candidates"][0]
    assert cand["content"] == {"role": "model"}
    assert cand["finishReason"] == "MAX_TOKENS"
    assert body["usageMetadata"]["thoughtsTokenCount"] == 4
    assert "candidatesTokenCount" not in body["usageMetadata"]


def test_stop_sequences(sim: Sim) -> None:
    req = {**user("alpha STOPHERE beta"), "generationConfig": {"stopSequences": ["STOPHERE"]}}
    body = sim.generate("gemini-2.0-flash", req).json()
    assert answer(body) == "Simulated reply to turn 1: alpha "
    assert body["candidates"][0]["finishReason"] == "STOP"


def test_thinking_include_thoughts(sim: Sim) -> None:
    req = {**user("why"), "generationConfig": {"thinkingConfig": {"includeThoughts": True}}}
    body = sim.generate("gemini-2.5-flash", req).json()
    parts = body["candidates"][0]["content"]["parts"]
    assert parts[0]["thought"] is True and "thought" not in parts[1]
    u = body["usageMetadata"]
    assert u["thoughtsTokenCount"] > 0
    assert u["totalTokenCount"] == u["promptTokenCount"] + u["candidatesTokenCount"] + u["thoughtsTokenCount"]


@pytest.mark.parametrize(
    ("model", "thinks"),
    [
        ("gemini-2.0-flash", False),
        ("gemini-2.5-flash-lite", False),
        ("gemini-2.5-flash", True),
        ("gemini-2.5-pro", True),
        ("gemini-3-pro-preview", True),
    ],
)
def test_default_thinking_per_model(sim: Sim, model: str, thinks: bool) -> None:
    usage = sim.generate(model, user("x")).json()["usageMetadata"]
    assert ("thoughtsTokenCount" in usage) is thinks


@pytest.mark.parametrize(
    ("model", "cfg", "fragment"),
    [
        ("gemini-3-flash-preview", {"thinkingBudget": 100, "thinkingLevel": "LOW"}, "only one of thinking budget"),
        ("gemini-2.5-pro", {"thinkingBudget": 0}, "Budget 0 is invalid. This model only works in thinking mode."),
        ("gemini-2.5-flash", {"thinkingBudget": 99999}, "is invalid. Please choose a value between 0 and 24576"),
        ("gemini-3-pro-preview", {"thinkingLevel": "MINIMAL"}, "Thinking level MINIMAL is not supported"),
        ("gemini-2.5-flash", {"thinkingLevel": "low"}, "Thinking level is not supported"),
    ],
)
def test_thinking_config_errors(sim: Sim, model: str, cfg: dict, fragment: str) -> None:
    r = sim.generate(model, {**user("x"), "generationConfig": {"thinkingConfig": cfg}})
    assert r.status_code == 400
    assert fragment in r.json()["error"]["message"]


def test_thinking_off_with_budget_zero(sim: Sim) -> None:
    req = {**user("x"), "generationConfig": {"thinkingConfig": {"thinkingBudget": 0}}}
    assert "thoughtsTokenCount" not in sim.generate("gemini-2.5-flash", req).json()["usageMetadata"]


SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 3},
        "tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}, "minItems": 2},
        "age": {"type": "integer", "minimum": 18},
        "kind": {"enum": ["a", "b"]},
        "maybe": {"anyOf": [{"type": "null"}, {"type": "number", "maximum": 0.5}]},
    },
    "required": ["name", "tags"],
    "$defs": {
        "tag": {
            "type": "object",
            "properties": {"label": {"type": "string", "format": "date"}},
            "required": ["label"],
            "additionalProperties": False,
        }
    },
}


def test_structured_output_json_schema(sim: Sim) -> None:
    req = {
        **user("give json"),
        "generationConfig": {"responseMimeType": "application/json", "responseJsonSchema": SCHEMA},
    }
    import json

    value = json.loads(answer(sim.generate("gemini-2.5-flash", req).json()))
    jsonschema.validate(value, SCHEMA)


def test_structured_output_gemini_schema(sim: Sim) -> None:
    schema = {
        "type": "OBJECT",
        "properties": {
            "n": {"type": "INTEGER"},
            "s": {"type": "STRING", "nullable": True},
            "l": {"type": "ARRAY", "items": {"type": "BOOLEAN"}},
        },
        "required": ["n"],
        "propertyOrdering": ["n", "s", "l"],
    }
    req = {**user("json"), "generationConfig": {"responseMimeType": "application/json", "responseSchema": schema}}
    import json

    value = json.loads(answer(sim.generate("gemini-2.0-flash", req).json()))
    assert isinstance(value["n"], int) and isinstance(value["l"][0], bool)


def test_json_mime_without_schema(sim: Sim) -> None:
    req = {**user("q"), "generationConfig": {"responseMimeType": "application/json"}}
    import json

    assert json.loads(answer(sim.generate("gemini-2.0-flash", req).json())) == {"reply": "Simulated reply to turn 1: q"}


def test_response_schema_requires_json_mime(sim: Sim) -> None:
    r = sim.generate("gemini-2.0-flash", {**user("q"), "generationConfig": {"responseSchema": {"type": "STRING"}}})
    assert r.status_code == 400
    assert "response_mime_type" in r.json()["error"]["message"]


def test_safety_trigger(sim: Sim) -> None:
    body = sim.generate("gemini-2.5-flash", user("please [[sim:safety]]")).json()
    cand = body["candidates"][0]
    assert cand["content"] == {} and cand["finishReason"] == "SAFETY"
    assert any(r.get("blocked") for r in cand["safetyRatings"])


def test_prompt_block_trigger(sim: Sim) -> None:
    r = sim.generate("gemini-2.5-flash", user("[[sim:block-prompt]]"))
    assert r.status_code == 200
    body = r.json()
    assert "candidates" not in body and body["promptFeedback"]["blockReason"] == "SAFETY"


def test_recitation_trigger(sim: Sim) -> None:
    cand = sim.generate("gemini-2.5-flash", user("[[sim:recitation]]")).json()["candidates"][0]
    assert cand["finishReason"] == "RECITATION" and "content" not in cand


def test_v1_route_and_query_key(sim: Sim) -> None:
    r = sim.http.post("/v1/models/gemini-2.0-flash:generateContent?key=sim-key-1", json=user("q"))
    assert r.status_code == 200

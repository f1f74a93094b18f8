"""Chat Completions generation parameters, response formats and thinking -> Gemini's
``generationConfig``: one row per mapping rule."""

from __future__ import annotations

from typing import Any

import pytest

from .requests import assert_subset, body, gem

# (id, request body, expected subset of the Gemini body)
MAPPING: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("temperature", body(temperature=0.2), {"generationConfig": {"temperature": 0.2}}),
    ("top_p", body(top_p=0.9), {"generationConfig": {"topP": 0.9}}),
    ("seed", body(seed=42), {"generationConfig": {"seed": 42}}),
    ("presence_penalty", body(presence_penalty=0.5), {"generationConfig": {"presencePenalty": 0.5}}),
    ("frequency_penalty", body(frequency_penalty=-0.5), {"generationConfig": {"frequencyPenalty": -0.5}}),
    ("n", body(n=3), {"generationConfig": {"candidateCount": 3}}),
    ("stop string", body(stop="END"), {"generationConfig": {"stopSequences": ["END"]}}),
    ("stop list", body(stop=["a", "b"]), {"generationConfig": {"stopSequences": ["a", "b"]}}),
    ("max_tokens", body(max_tokens=100), {"generationConfig": {"maxOutputTokens": 100}}),
    (
        "max_completion_tokens wins",
        body(max_tokens=100, max_completion_tokens=50),
        {"generationConfig": {"maxOutputTokens": 50}},
    ),
    ("logprobs", body(logprobs=True, top_logprobs=3), {"generationConfig": {"responseLogprobs": True, "logprobs": 3}}),
    # Whole-number floats are integers in JSON: sent on as ints
    ("n 2.0", body(n=2.0), {"generationConfig": {"candidateCount": 2}}),
    ("max_tokens 10.0", body(max_tokens=10.0), {"generationConfig": {"maxOutputTokens": 10}}),
    ("max_completion_tokens 50.0", body(max_completion_tokens=50.0), {"generationConfig": {"maxOutputTokens": 50}}),
    ("seed -7.0", body(seed=-7.0), {"generationConfig": {"seed": -7}}),
    ("top_k 4.0", body(top_k=4.0), {"generationConfig": {"topK": 4}}),
    ("top_logprobs 3.0", body(logprobs=True, top_logprobs=3.0), {"generationConfig": {"logprobs": 3}}),
    (
        "thinking_budget 2048.0",
        body(google={"thinking_config": {"thinking_budget": 2048.0}}),
        {"generationConfig": {"thinkingConfig": {"thinkingBudget": 2048}}},
    ),
    ("response_format text", body(response_format={"type": "text"}), {}),
    (
        "response_format json_object",
        body(response_format={"type": "json_object"}),
        {"generationConfig": {"responseMimeType": "application/json"}},
    ),
    (
        "response_format json_schema -> responseSchema via the sanitizer",
        body(
            response_format={
                "type": "json_schema",
                "json_schema": {
                    "name": "x",
                    "strict": True,
                    "schema": {
                        "type": "object",
                        "title": "X",
                        "additionalProperties": False,
                        "properties": {"a": {"type": ["integer", "null"]}},
                        "required": ["a"],
                    },
                },
            }
        ),
        {
            "generationConfig": {
                "responseMimeType": "application/json",
                "responseSchema": {
                    "type": "OBJECT",
                    "properties": {"a": {"type": "INTEGER", "nullable": True}},
                    "required": ["a"],
                    "propertyOrdering": ["a"],
                },
            }
        },
    ),
    (
        "response_format recursive json_schema -> responseJsonSchema",
        body(
            response_format={
                "type": "json_schema",
                "json_schema": {
                    "name": "t",
                    "schema": {
                        "$schema": "https://json-schema.org/draft/2020-12/schema",
                        "$ref": "#/$defs/node",
                        "$defs": {
                            "node": {
                                "type": "object",
                                "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
                            }
                        },
                    },
                },
            }
        ),
        {
            "generationConfig": {
                "responseMimeType": "application/json",
                "responseJsonSchema": {
                    "$ref": "#/$defs/node",
                    "$defs": {
                        "node": {
                            "type": "object",
                            "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
                        }
                    },
                },
            }
        },
    ),
    (
        "reasoning_effort low on 2.5 flash",
        body(reasoning_effort="low"),
        {"generationConfig": {"thinkingConfig": {"thinkingBudget": 1024}}},
    ),
    (
        "reasoning_effort medium on 2.5",
        body(reasoning_effort="medium"),
        {"generationConfig": {"thinkingConfig": {"thinkingBudget": 8192}}},
    ),
    (
        "reasoning_effort high on 2.5",
        body(reasoning_effort="high"),
        {"generationConfig": {"thinkingConfig": {"thinkingBudget": 24576}}},
    ),
    (
        "reasoning_effort none on 2.5 flash -> 0",
        body(reasoning_effort="none"),
        {"generationConfig": {"thinkingConfig": {"thinkingBudget": 0}}},
    ),
    (
        "reasoning_effort none on 2.5 pro -> lowest budget",
        body(model="gemini-2.5-pro", reasoning_effort="none"),
        {"generationConfig": {"thinkingConfig": {"thinkingBudget": 128}}},
    ),
    (
        "reasoning_effort max on 2.5 pro -> top budget",
        body(model="gemini-2.5-pro", reasoning_effort="max"),
        {"generationConfig": {"thinkingConfig": {"thinkingBudget": 32768}}},
    ),
    (
        "reasoning_effort minimal on 3 flash",
        body(model="gemini-3-flash-preview", reasoning_effort="minimal"),
        {"generationConfig": {"thinkingConfig": {"thinkingLevel": "MINIMAL"}}},
    ),
    (
        "reasoning_effort xhigh on 3 flash",
        body(model="gemini-3-flash-preview", reasoning_effort="xhigh"),
        {"generationConfig": {"thinkingConfig": {"thinkingLevel": "HIGH"}}},
    ),
    (
        "reasoning_effort none on 3.1 pro -> LOW",
        body(model="gemini-3.1-pro-preview", reasoning_effort="none"),
        {"generationConfig": {"thinkingConfig": {"thinkingLevel": "LOW"}}},
    ),
    (
        "reasoning_effort medium on 3.1 pro",
        body(model="gemini-3.1-pro-preview", reasoning_effort="medium"),
        {"generationConfig": {"thinkingConfig": {"thinkingLevel": "MEDIUM"}}},
    ),
    (
        "reasoning_effort medium on 3.0 pro -> HIGH",
        body(model="gemini-3-pro-preview", reasoning_effort="medium"),
        {"generationConfig": {"thinkingConfig": {"thinkingLevel": "HIGH"}}},
    ),
    (
        "google extension at top level",
        body(
            google={
                "thinking_config": {"thinking_budget": 2048, "include_thoughts": True},
                "safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
                "cached_content": "cachedContents/abc",
            }
        ),
        {
            "generationConfig": {"thinkingConfig": {"thinkingBudget": 2048, "includeThoughts": True}},
            "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
            "cachedContent": "cachedContents/abc",
        },
    ),
    (
        "google extension under extra_body",
        body(model="gemini-3-flash-preview", extra_body={"google": {"thinking_config": {"thinking_level": "low"}}}),
        {"generationConfig": {"thinkingConfig": {"thinkingLevel": "LOW"}}},
    ),
    (
        "include_thoughts combines with reasoning_effort",
        body(reasoning_effort="high", google={"thinking_config": {"include_thoughts": True}}),
        {"generationConfig": {"thinkingConfig": {"includeThoughts": True, "thinkingBudget": 24576}}},
    ),
]


@pytest.mark.parametrize(("request_body", "expected"), [(b, e) for _, b, e in MAPPING], ids=[i for i, _, _ in MAPPING])
def test_mapping(request_body: dict[str, Any], expected: dict[str, Any]) -> None:
    assert_subset(expected, gem(request_body))

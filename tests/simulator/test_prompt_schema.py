"""JSON asked without a schema (json_object): the answer follows a JSON Schema written in the prompt."""

from __future__ import annotations

import json
import time
from typing import Any

import jsonschema
import pytest

from gemini_proxy.simulator import prompt_schema
from tests.simulator.conftest import Sim, user

MODEL = "gemini-2.5-flash"
JSON_ONLY = {"generationConfig": {"responseMimeType": "application/json"}}
PERSON: dict[str, Any] = {
    "type": "object",
    "title": "Person",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer", "minimum": 18, "maximum": 120},
        "mood": {"type": "string", "enum": ["happy", "sad"]},
        "address": {"type": "object", "properties": {"city": {"type": "string"}, "zip": {"type": "string"}},
                    "required": ["city"]},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 3},
        "pets": {"type": "array", "items": {"$ref": "#/$defs/Pet"}},
        "nickname": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
    },
    "required": ["name", "age", "mood", "address", "tags", "pets"],
    "$defs": {"Pet": {"type": "object", "properties": {"kind": {"type": "string"}, "legs": {"type": "integer"}},
                      "required": ["kind", "legs"]}},
}


def answer(sim: Sim, body: dict[str, Any]) -> Any:
    r = sim.generate(MODEL, body | JSON_ONLY)
    assert r.status_code == 200, r.text
    return json.loads(r.json()["candidates"][0]["content"]["parts"][0]["text"])


def test_schema_in_the_system_instruction_like_instructor(sim: Sim) -> None:
    system = ("As a genius expert, your task is to understand the content and provide the parsed objects in json "
              f"that match the following json_schema:\n\n{json.dumps(PERSON, indent=2)}\n\n"
              "Make sure to return an instance of the JSON, not the schema itself")
    value = answer(sim, user("Jason is 25") | {"systemInstruction": {"parts": [{"text": system}]}})
    jsonschema.validate(value, PERSON)
    assert value["age"] == 18 and value["mood"] == "happy" and len(value["tags"]) == 2
    assert value["address"]["city"] == "city value" and value["pets"] == [{"kind": "kind value", "legs": 1}]


def test_schema_inline_in_the_user_text_like_pydantic_ai(sim: Sim) -> None:
    text = ("Extract the person.\n\nAlways respond with a JSON object that's compatible with this schema:\n\n"
            f"{json.dumps(PERSON)}\n\nDon't include any text or Markdown fencing before or after.")
    jsonschema.validate(answer(sim, user(text)), PERSON)


def test_schema_in_a_fenced_block_wins_over_an_example_before_it(sim: Sim) -> None:
    schema = {"type": "object", "properties": {"joke": {"type": "string"}, "rating": {"type": "number"}},
              "required": ["joke", "rating"]}
    text = ('For example {"joke": "x"} is fine. Use {placeholders} freely. The schema:\n'
            f"```json\n{json.dumps(schema, indent=2)}\n```\nAnswer in JSON.")
    assert answer(sim, user(text)) == {"joke": "joke value", "rating": 1.5}


def test_the_openai_json_schema_wrapper_gives_its_schema(sim: Sim) -> None:
    text = json.dumps({"name": "Point", "schema": {"type": "object", "properties": {"x": {"type": "integer"}}}})
    assert answer(sim, user(f"Reply with {text}")) == {"x": 1}


@pytest.mark.parametrize("text", [
    "tell me a joke in json",
    'an example object: {"joke": "x", "type": "pun"}',
    "broken {\"type\": \"object\", \"properties\": {",
    "{" * 5000 + "not json",
    "[" * 100_000,
])
def test_without_a_schema_in_the_prompt_the_answer_stays(sim: Sim, text: str) -> None:
    value = answer(sim, user(text))
    assert set(value) == {"reply"} and value["reply"].startswith("Simulated reply to turn 1:")


def test_a_response_schema_still_wins_over_the_prompt(sim: Sim) -> None:
    body = user(f"schema: {json.dumps(PERSON)}") | {"generationConfig": {
        "responseMimeType": "application/json", "responseJsonSchema": {"type": "object", "properties": {
            "ok": {"type": "boolean"}}}}}
    r = sim.generate(MODEL, body)
    assert json.loads(r.json()["candidates"][0]["content"]["parts"][0]["text"]) == {"ok": True}


def test_plain_text_requests_ignore_a_schema_in_the_prompt(sim: Sim) -> None:
    r = sim.generate(MODEL, user(json.dumps(PERSON)))
    assert r.json()["candidates"][0]["content"]["parts"][0]["text"].startswith("Simulated reply to turn 1:")


def test_a_schema_too_big_to_answer_falls_back_to_the_usual_answer(sim: Sim) -> None:
    huge = {"type": "object", "properties": {"a": {"type": "array", "minItems": 1000, "items": {
        "type": "array", "minItems": 1000, "items": {"type": "integer"}}}}}
    assert set(answer(sim, user(json.dumps(huge)))) == {"reply"}


def test_search_order_last_user_then_system_then_earlier_turns() -> None:
    def schema(name: str) -> str:
        return json.dumps({"type": "object", "properties": {name: {"type": "string"}}})

    system = {"parts": [{"text": schema("from_system")}]}
    contents = [{"role": "user", "parts": [{"text": schema("earlier")}]}, {"role": "model", "parts": [{"text": "ok"}]},
                {"role": "user", "parts": [{"text": "now " + schema("last")}]}]
    assert prompt_schema.find(system, contents) == json.loads(schema("last"))
    contents[-1] = {"role": "user", "parts": [{"text": "now"}]}
    assert prompt_schema.find(system, contents) == json.loads(schema("from_system"))
    assert prompt_schema.find(None, contents) == json.loads(schema("earlier"))


def test_a_prompt_full_of_braces_is_searched_quickly() -> None:
    text = '{"a": ' * 40_000  # every '{' opens an object that never closes
    start = time.perf_counter()
    assert prompt_schema.find(None, [{"role": "user", "parts": [{"text": text}]}]) is None
    assert time.perf_counter() - start < 1.0

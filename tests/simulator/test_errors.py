from __future__ import annotations

import json

import pytest

from tests.simulator.conftest import FIXTURES, Sim, user


def err(r) -> dict:  # type: ignore[no-untyped-def]
    assert r.text.endswith("\n") and r.text.startswith('{\n  "error": {\n    "code": ')
    return r.json()["error"]


def test_no_key_403(sim: Sim) -> None:
    r = sim.generate("gemini-2.0-flash", user("x"), key="")
    assert r.status_code == 403
    e = err(r)
    assert e["status"] == "PERMISSION_DENIED"
    assert e["message"].startswith("Method doesn't allow unregistered callers")


def test_invalid_key_400_with_error_info(make_sim) -> None:  # type: ignore[no-untyped-def]
    s = make_sim(keys={"sim-key-1": None}, invalid_keys={"sim-bad"})
    for key in ("sim-bad", "sim-unknown"):
        r = s.generate("gemini-2.0-flash", user("x"), key=key)
        assert r.status_code == 400
        e = err(r)
        recorded = json.loads((FIXTURES / "fb-err-400-api-key-invalid.json").read_text())["error"]
        assert e["message"] == recorded["message"] and e["status"] == recorded["status"]
        assert e["details"][0] == recorded["details"][0]


@pytest.mark.parametrize(
    ("model", "method", "fixture"),
    [
        ("nonexistent-model", "countTokens", "pai-err-404-count-tokens.json"),
        ("nonexistent-model", "batchEmbedContents", "pai-err-404-batch-embed.json"),
    ],
)
def test_unknown_model_404_exact(sim: Sim, model: str, method: str, fixture: str) -> None:
    r = sim.post(
        f"/v1beta/models/{model}:{method}",
        {"contents": [{"parts": [{"text": "x"}]}]} if method == "countTokens" else {"requests": []},
    )
    assert r.status_code == 404
    assert r.json() == json.loads((FIXTURES / fixture).read_text())


def test_generate_on_embedding_model_404(sim: Sim) -> None:
    r = sim.generate("text-embedding-004", user("x"))
    assert r.status_code == 404
    assert err(r)["message"].startswith(
        "models/text-embedding-004 is not found for API version v1beta, or is not supported for generateContent."
    )


def test_unknown_fields(sim: Sim) -> None:
    r = sim.generate("gemini-2.5-flash", {**user("x"), "foo": 1, "generationConfig": {"effortLevel": "high"}})
    assert r.status_code == 400
    e = err(r)
    assert e["message"] == (
        'Invalid JSON payload received. Unknown name "foo": Cannot find field.\n'
        "Invalid JSON payload received. Unknown name \"effortLevel\" at 'generation_config': "
        "Cannot find field."
    )
    fv = e["details"][0]["fieldViolations"]
    assert e["details"][0]["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    assert fv[1] == {"field": "generation_config", "description": e["message"].split("\n")[1]}


@pytest.mark.parametrize(
    "where",
    [
        {"contents": [{"role": "user", "parts": [{"text": "x", "bogus": 1}]}]},
        {"contents": [{"role": "user", "bogus": 1, "parts": [{"text": "x"}]}]},
        {**user("x"), "generationConfig": {"thinkingConfig": {"bogus": 1}}},
        {**user("x"), "tools": [{"bogus": {}}]},
    ],
)
def test_unknown_nested_fields(sim: Sim, where: dict) -> None:
    r = sim.generate("gemini-2.5-flash", where)
    assert r.status_code == 400 and 'Unknown name "bogus"' in err(r)["message"]


def test_json_schema_keyword_in_parameters(sim: Sim) -> None:
    tools = [
        {
            "functionDeclarations": [
                {"name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "string", "const": "x"}}}}
            ]
        }
    ]
    r = sim.generate("gemini-2.5-flash", {**user("x"), "tools": tools})
    e = err(r)
    path = "tools[0].function_declarations[0].parameters.properties[0].value"
    assert e["message"] == f"Invalid JSON payload received. Unknown name \"const\" at '{path}': Cannot find field."
    assert e["details"][0]["fieldViolations"][0]["field"] == path


def test_any_of_null_invalid_value(sim: Sim) -> None:
    tools = [
        {
            "functionDeclarations": [
                {
                    "name": "f",
                    "parameters": {
                        "type": "object",
                        "properties": {"a": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
                    },
                }
            ]
        }
    ]
    e = err(sim.generate("gemini-2.5-flash", {**user("x"), "tools": tools}))
    assert e["message"] == (
        "Invalid value at 'tools[0].function_declarations[0].parameters.properties[0].value."
        'any_of[1].type\' (type.googleapis.com/google.ai.generativelanguage.v1beta.Type), "null"'
    )


def test_parameters_json_schema_accepts_real_json_schema(sim: Sim) -> None:
    tools = [
        {
            "functionDeclarations": [
                {
                    "name": "f",
                    "parametersJsonSchema": {
                        "type": "object",
                        "properties": {"a": {"const": "x"}, "b": {"type": ["string", "null"]}},
                        "additionalProperties": False,
                    },
                }
            ]
        }
    ]
    assert sim.generate("gemini-2.5-flash", {**user("x"), "tools": tools}).status_code == 200
    both = [{"functionDeclarations": [{"name": "f", "parametersJsonSchema": {}, "parameters": {"type": "OBJECT"}}]}]
    assert sim.generate("gemini-2.5-flash", {**user("x"), "tools": both}).status_code == 400


def test_empty_contents_and_bad_role(sim: Sim) -> None:
    e = err(sim.generate("gemini-2.5-flash", {"contents": []}))
    assert e["message"] == "* GenerateContentRequest.contents: contents is not specified\n"
    r = sim.generate("gemini-2.5-flash", {"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]})
    assert err(r)["message"] == "Please use a valid role: user, model."


def test_invalid_json(sim: Sim) -> None:
    r = sim.http.post(
        "/v1beta/models/gemini-2.0-flash:generateContent", content=b"{nope", headers={"x-goog-api-key": "k"}
    )
    assert r.status_code == 400 and err(r)["status"] == "INVALID_ARGUMENT"


def test_array_stream_error_is_wrapped(sim: Sim) -> None:
    sim.config.fail_next(503)
    r = sim.stream("gemini-2.5-flash", user("x"), sse=False)
    assert r.status_code == 503
    assert r.text == (FIXTURES / "err-503-overloaded-jsonarray.json").read_text()


def test_500_text(sim: Sim) -> None:
    sim.config.fail_next(500)
    e = err(sim.generate("gemini-2.5-flash", user("x")))
    assert e["status"] == "INTERNAL" and e["message"].startswith("An internal error has occurred.")

from __future__ import annotations

import json

import orjson
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


def fn_body(schema: object, text: str = "call f", key: str = "parametersJsonSchema") -> dict:
    return {**user(text), "tools": [{"functionDeclarations": [{"name": "f", key: schema}]}]}


def json_body(schema: object, mime: str = "application/json") -> dict:
    return {**user("x"), "generationConfig": {"responseMimeType": mime, "responseJsonSchema": schema}}


GENERIC_400 = {"code": 400, "message": "Request contains an invalid argument.", "status": "INVALID_ARGUMENT"}


@pytest.mark.parametrize("schema", ["abc", [1, 2], 5, True])
def test_non_object_json_schemas_are_400_in_validation(sim: Sim, schema: object) -> None:
    for model in ("gemini-2.5-flash", "gemini-3-flash-preview"):
        e = err(sim.generate(model, fn_body(schema)))
        assert e["code"] == 400 and e["message"] == (
            "* GenerateContentRequest.tools[0].function_declarations[0].parameters_json_schema: "
            "parameters_json_schema must be a JSON object (a JSON Schema).\n"
        )
    # also when the function would not be called, and for its response schema
    assert sim.generate("gemini-2.5-flash", fn_body(schema, "hello")).status_code == 400
    assert sim.generate("gemini-2.5-flash", fn_body(schema, "hello", "responseJsonSchema")).status_code == 400
    for mime in ("application/json", "text/x.enum"):
        e = err(sim.generate("gemini-2.5-flash", json_body(schema, mime)))
        assert e["message"] == (
            "* GenerateContentRequest.generation_config.response_json_schema: "
            "response_json_schema must be a JSON object (a JSON Schema).\n"
        )
    cache = {"model": "models/gemini-2.5-flash", "contents": user("x")["contents"], "tools": fn_body(schema)["tools"]}
    assert sim.post("/v1beta/cachedContents", cache).status_code == 400


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"$ref": "#/$defs/Missing"}, "value value"),
        ({"type": "object", "properties": {"a": {"$ref": "#/nowhere/at/all"}}}, {"a": "a value"}),
        ({"type": "array", "minItems": "x", "items": {"type": "integer", "minimum": "y"}}, [1]),
        ({"type": "string", "minLength": "x", "maxLength": [1]}, "value value"),
        ({"type": "object", "minProperties": "x", "properties": ["a"], "required": 5}, {}),
        ({"enum": {"a": 1}, "type": "boolean"}, True),
        ({"anyOf": "abc", "type": "null"}, None),
        ({"type": "number", "minimum": "x", "maximum": None}, 1.5),
    ],
)
def test_malformed_schema_keywords_do_not_break_generation(sim: Sim, schema: dict, expected: object) -> None:
    r = sim.generate("gemini-2.5-flash", json_body(schema))
    assert r.status_code == 200, r.text
    assert json.loads(r.json()["candidates"][0]["content"]["parts"][0]["text"]) == expected
    r = sim.generate("gemini-2.5-flash", fn_body({"type": "object", "properties": {"v": schema}}))
    assert r.status_code == 200, r.text


def test_enum_mime_with_odd_enum(sim: Sim) -> None:
    r = sim.generate("gemini-2.5-flash", json_body({"enum": 5}, "text/x.enum"))
    assert r.status_code == 200, r.text


def test_self_referencing_all_of_is_bounded(sim: Sim) -> None:
    loop = {"$defs": {"A": {"allOf": [{"$ref": "#/$defs/A"}], "type": "object"}}, "allOf": [{"$ref": "#/$defs/A"}]}
    assert sim.generate("gemini-2.5-flash", json_body(loop)).status_code == 200
    assert sim.generate("gemini-2.5-flash", fn_body(loop)).status_code == 200
    anyof = {"$defs": {"B": {"anyOf": [{"$ref": "#/$defs/B"}]}}, "$ref": "#/$defs/B"}
    assert sim.generate("gemini-2.5-flash", json_body(anyof)).status_code == 200
    nested: dict = {"type": "object"}
    for _ in range(100):
        nested = {"anyOf": [nested]}
    raw = orjson.dumps(json_body(nested))
    r = sim.http.post("/v1beta/models/gemini-2.5-flash:generateContent", content=raw,
                      headers={"x-goog-api-key": "k", "content-type": "application/json"})
    assert r.status_code == 200 and r.json()["candidates"][0]["content"]["parts"][0]["text"] == "null"


def test_huge_sizes_are_capped(sim: Sim) -> None:
    huge = {"type": "array", "minItems": 3_000_000, "items": {"type": "integer"}}
    r = sim.generate("gemini-2.5-flash", json_body(huge))
    assert r.status_code == 200 and len(json.loads(r.json()["candidates"][0]["content"]["parts"][0]["text"])) == 1000
    r = sim.generate("gemini-2.5-flash", json_body({"type": "string", "minLength": 3_000_000}))
    assert r.status_code == 200 and len(json.loads(r.json()["candidates"][0]["content"]["parts"][0]["text"])) == 1000
    r = sim.generate("gemini-2.5-flash", json_body({"type": "object", "minProperties": 10**9}))
    assert r.status_code == 200 and len(json.loads(r.json()["candidates"][0]["content"]["parts"][0]["text"])) == 1000
    # nested arrays that would still explode: Google's generic 400, never a 500
    deep = {"type": "array", "minItems": 1000, "items": {"type": "array", "minItems": 1000, "items": {
        "type": "array", "minItems": 1000}}}
    for r in (sim.generate("gemini-2.5-flash", json_body(deep)), sim.generate("gemini-2.5-flash", fn_body(
            {"type": "object", "properties": {"a": deep}})), sim.stream("gemini-2.5-flash", json_body(deep))):
        assert r.status_code == 400 and err(r) == GENERIC_400


def test_last_line_of_defence_is_generic_400(sim: Sim, monkeypatch: pytest.MonkeyPatch) -> None:
    from gemini_proxy.simulator import generate

    for exc in (ValueError("x"), TypeError("x"), KeyError("x"), RecursionError("x"), IndexError(1)):
        def boom(*_a: object, _exc: BaseException = exc, **_k: object) -> None:
            raise _exc

        monkeypatch.setattr(generate, "plan", boom)
        for r in (sim.generate("gemini-2.5-flash", user("x")), sim.stream("gemini-2.5-flash", user("x"))):
            assert r.status_code == 400 and err(r) == GENERIC_400
        r = sim.stream("gemini-2.5-flash", user("x"), sse=False)
        assert r.status_code == 400 and r.json() == [{"error": GENERIC_400}]


@pytest.mark.parametrize("value", [-5, 0, "-1"])
def test_max_output_tokens_below_one_is_400(sim: Sim, value: object) -> None:
    for model in ("gemini-2.0-flash", "gemini-2.5-flash"):
        r = sim.generate(model, {**user("hello there"), "generationConfig": {"maxOutputTokens": value}})
        assert err(r)["message"] == (
            "* GenerateContentRequest.generation_config.max_output_tokens: max_output_tokens must be positive.\n"
        )


def test_thoughts_exhausted_branch_needs_thinking_on() -> None:
    # the "thoughts used up the budget" branch only runs when thinking is on (validation aside)
    from gemini_proxy.simulator import generate, request, validate
    from gemini_proxy.simulator.caches import CacheStore
    from gemini_proxy.simulator.catalog import Catalog

    model = Catalog().require("gemini-2.0-flash", "v1beta", "generateContent")
    norm = validate.parse("GenerateContentRequest", user("one two three"))
    req = request.build(norm, model, CacheStore(lambda: 0.0), "p", b"s")
    req.gen["maxOutputTokens"] = -5
    cand = generate.plan(req, b"s", "rid").candidates[0]
    assert cand.thought_tokens == 0 and cand.output_tokens == 0 and cand.finish == "MAX_TOKENS"


def test_max_output_tokens_without_thinking_never_goes_negative(sim: Sim) -> None:
    body = {**user("one two three four"), "generationConfig": {"maxOutputTokens": 2}}
    out = sim.generate("gemini-2.0-flash", body).json()
    cand = out["candidates"][0]
    assert cand["finishReason"] == "MAX_TOKENS" and cand["content"]["parts"][0]["text"] == "Simulated reply"
    assert out["usageMetadata"]["candidatesTokenCount"] == 2 and "thoughtsTokenCount" not in out["usageMetadata"]


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [("maxOutputTokens", 1e30, "1e+30"), ("maxOutputTokens", 2**31, "2147483648"), ("topK", -(2**31) - 1,
     "-2147483649"), ("candidateCount", "3000000000", '"3000000000"'), ("seed", 1e10, "10000000000.0")],
)
def test_int32_out_of_range_is_400(sim: Sim, field: str, value: object, shown: str) -> None:
    r = sim.generate("gemini-2.0-flash", {**user("x"), "generationConfig": {field: value}})
    e = err(r)
    snake = "".join("_" + c.lower() if c.isupper() else c for c in field)
    assert e["code"] == 400 and e["message"].startswith(f"Invalid value at 'generation_config.{snake}' (TYPE_INT32), ")
    assert e["message"] in (f"Invalid value at 'generation_config.{snake}' (TYPE_INT32), {s}" for s in (shown,
                                                                                                         "1e30"))


def test_int32_edges_accepted(sim: Sim) -> None:
    assert sim.generate("gemini-2.0-flash", {**user("x"), "generationConfig": {"maxOutputTokens": 2**31 - 1,
                                                                               "seed": -(2**31)}}).status_code == 200

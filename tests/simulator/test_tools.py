from __future__ import annotations

import base64
import json
from typing import Any

import jsonschema
import pytest

from tests.simulator.conftest import FIXTURES, Sim, user
from tests.simulator.shapes import assert_shape

WEATHER = {
    "name": "get_weather",
    "description": "Weather",
    "parametersJsonSchema": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
            "unit": {"enum": ["C", "F"]},
        },
        "required": ["city", "days"],
    },
}
TIME = {
    "name": "get_time",
    "parameters": {"type": "OBJECT", "properties": {"tz": {"type": "STRING"}}, "required": ["tz"]},
}
TOOLS = [{"functionDeclarations": [WEATHER, TIME]}]


def calls(body: dict) -> list[dict]:
    return [p for p in body["candidates"][0]["content"]["parts"] if "functionCall" in p]


def req(text: str, mode: str | None = None, allowed: list[str] | None = None, **extra: Any) -> dict:
    out: dict[str, Any] = {**user(text), "tools": TOOLS, **extra}
    if mode:
        fcc: dict[str, Any] = {"mode": mode}
        if allowed:
            fcc["allowedFunctionNames"] = allowed
        out["toolConfig"] = {"functionCallingConfig": fcc}
    return out


def test_auto_trigger_by_name_and_args_validate(sim: Sim) -> None:
    body = sim.generate("gemini-2.0-flash", req("please call get_weather now")).json()
    (part,) = calls(body)
    assert part["functionCall"]["name"] == "get_weather"
    jsonschema.validate(part["functionCall"]["args"], WEATHER["parametersJsonSchema"])
    assert body["candidates"][0]["finishReason"] == "STOP"


def test_no_trigger_gives_text(sim: Sim) -> None:
    assert not calls(sim.generate("gemini-2.0-flash", req("what is the weather")).json())


def test_parallel_calls_and_gemini_schema_args(sim: Sim) -> None:
    parts = calls(sim.generate("gemini-2.0-flash", req("use get_time and get_weather")).json())
    assert [p["functionCall"]["name"] for p in parts] == ["get_weather", "get_time"]
    assert isinstance(parts[1]["functionCall"]["args"]["tz"], str)


def test_mode_any_and_allowed_names(sim: Sim) -> None:
    parts = calls(sim.generate("gemini-2.5-flash", req("hello", "ANY")).json())
    assert [p["functionCall"]["name"] for p in parts] == ["get_weather"]
    parts = calls(sim.generate("gemini-2.5-flash", req("hello get_weather", "any", ["get_time"])).json())
    assert [p["functionCall"]["name"] for p in parts] == ["get_time"]


def test_mode_none_never_calls(sim: Sim) -> None:
    assert not calls(sim.generate("gemini-2.5-flash", req("call get_weather", "NONE")).json())


def test_invalid_mode_value(sim: Sim) -> None:
    r = sim.generate("gemini-2.5-flash", req("x", "SOMETIMES"))
    assert r.status_code == 400 and "FunctionCallingConfig.Mode" in r.json()["error"]["message"]


def test_gemini3_parallel_signature_on_first_only(sim: Sim) -> None:
    body = sim.generate("gemini-3-flash-preview", req("x", "ANY", None) | {**user("get_time get_weather")}).json()
    parts = calls(body)
    assert "thoughtSignature" in parts[0] and all("thoughtSignature" not in p for p in parts[1:])
    assert body["candidates"][0]["finishMessage"] == "Model generated function call(s)."
    recorded = json.loads((FIXTURES / "pai-unary-parallel-function-calls-gemini3.json").read_text())
    assert_shape(body, recorded)


def _round_trip(model: str, call_part: dict, result: dict) -> dict:
    return {
        "contents": [
            {"role": "user", "parts": [{"text": "call get_time please"}]},
            {"role": "model", "parts": [call_part]},
            {"role": "user", "parts": [{"functionResponse": {"name": "get_time", "response": result}}]},
        ],
        "tools": TOOLS,
    }


def test_round_trip_reply_mentions_function_response(sim: Sim) -> None:
    first = sim.generate("gemini-3-pro-preview", req("call get_time please")).json()
    (part,) = calls(first)
    r = sim.generate("gemini-3-pro-preview", _round_trip("gemini-3-pro-preview", part, {"output": "12:00"}))
    assert r.status_code == 200, r.text
    text = "".join(p["text"] for p in r.json()["candidates"][0]["content"]["parts"])
    assert text == 'Simulated reply to turn 3: function get_time returned {"output":"12:00"}'


def test_gemini3_missing_signature_400(sim: Sim) -> None:
    part = {"functionCall": {"name": "get_time", "args": {"tz": "tz value"}}}
    r = sim.generate("gemini-3-pro-preview", _round_trip("x", part, {"output": 1}))
    assert r.status_code == 400
    assert r.json()["error"]["message"] == (
        "Function call is missing a thought_signature in functionCall parts. This is required for tools to work "
        "correctly, and missing thought_signature may lead to degraded model performance. Additional data, function "
        "call `default_api:get_time` , position 2. Please refer to https://ai.google.dev/gemini-api/docs/"
        "thought-signatures for more details."
    )
    # older models do not require it
    assert sim.generate("gemini-2.5-flash", _round_trip("x", part, {"output": 1})).status_code == 200


@pytest.mark.parametrize(
    "sig",
    [
        "skip_thought_signature_validator",
        "context_engineering_is_the_way_to_go",
        base64.b64encode(b"skip_thought_signature_validator").decode(),
    ],
)
def test_dummy_signatures_accepted(sim: Sim, sig: str) -> None:
    part = {"functionCall": {"name": "get_time", "args": {}}, "thoughtSignature": sig}
    assert sim.generate("gemini-3-pro-preview", _round_trip("x", part, {"output": 1})).status_code == 200


def test_garbage_or_moved_signature_rejected(sim: Sim) -> None:
    first = calls(sim.generate("gemini-3-pro-preview", req("call get_time please")).json())[0]
    moved = {
        "functionCall": {"name": "get_time", "args": {"tz": "other"}},
        "thoughtSignature": first["thoughtSignature"],
    }
    for part in (moved, {**first, "thoughtSignature": base64.b64encode(b"garbage" * 5).decode()}):
        r = sim.generate("gemini-3-pro-preview", _round_trip("x", part, {"output": 1}))
        assert r.status_code == 400 and r.json()["error"]["message"] == "Corrupted thought signature."
    r = sim.generate("gemini-3-pro-preview", _round_trip("x", {**first, "thoughtSignature": "%%%"}, {}))
    assert r.status_code == 400 and "Base64 decoding failed" in r.json()["error"]["message"]


def test_function_call_stream_is_whole(sim: Sim) -> None:
    from tests.simulator.test_streaming import sse_events

    events = sse_events(sim.stream("gemini-3-pro-preview", req("get_weather")).content)
    assert len(events) == 2
    assert "functionCall" in events[0]["candidates"][0]["content"]["parts"][0]
    assert events[1]["candidates"][0]["content"]["parts"] == [{"text": ""}]
    events = sse_events(sim.stream("gemini-2.0-flash", req("get_weather")).content)
    assert len(events) == 1 and events[0]["candidates"][0]["finishReason"] == "STOP"


def test_signature_survives_integral_numbers_reserialised(sim: Sim) -> None:
    # Google keeps args as a protobuf Struct: 1 and 1.0 are the same number, so a client that
    # re-serialises the arguments (JS: 2.0 -> 2; Python: 1 -> 1.0) still sends a valid call back.
    measure = {"name": "measure", "parametersJsonSchema": {"type": "object", "properties": {
        "n": {"type": "integer", "minimum": 1},
        "x": {"type": "number", "minimum": 2},
        "xs": {"type": "array", "items": {"type": "number", "minimum": 3}},
    }}}
    body = {**user("measure"), "tools": [{"functionDeclarations": [measure]}]}
    (part,) = calls(sim.generate("gemini-3-pro-preview", body).json())
    assert part["functionCall"]["args"] == {"n": 1, "x": 2.0, "xs": [3.0]}
    swapped = {**part, "functionCall": {"name": "measure", "args": {"n": 1.0, "x": 2, "xs": [3]}}}
    history = {
        "contents": [
            body["contents"][0],
            {"role": "model", "parts": [swapped]},
            {"role": "user", "parts": [{"functionResponse": {"name": "measure", "response": {"ok": True}}}]},
        ],
        "tools": body["tools"],
    }
    r = sim.generate("gemini-3-pro-preview", history)
    assert r.status_code == 200, r.text
    # a really different number is still caught
    history["contents"][1]["parts"][0]["functionCall"]["args"]["x"] = 2.5
    assert sim.generate("gemini-3-pro-preview", history).json()["error"]["message"] == "Corrupted thought signature."


def test_signature_canonical_numbers_unit() -> None:
    from gemini_proxy.simulator import signatures

    sig = signatures.sign_call(b"s", "f", {"a": [0, {"b": 1.0}], "c": 2.5})
    raw = base64.b64decode(sig)
    part = {"functionCall": {"name": "f", "args": {"a": [0.0, {"b": 1}], "c": 2.5}}}
    assert signatures.verify(b"s", sig, raw, part)
    part["functionCall"]["args"]["c"] = 2
    assert not signatures.verify(b"s", sig, raw, part)


@pytest.mark.parametrize("data", ["ab-!!!c", "ab+-cd/_%", "a_bc*", "-_-_ -_-_"])
def test_url_safe_base64_is_validated(sim: Sim, data: str) -> None:
    body = {"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "image/png", "data": data}}]}]}
    r = sim.generate("gemini-2.5-flash", body)
    assert r.status_code == 400
    assert r.json()["error"]["message"] == (
        f"Invalid value at 'contents[0].parts[0].inline_data.data' (TYPE_BYTES), Base64 decoding failed for \"{data}\""
    )


def test_url_safe_base64_still_accepted(sim: Sim) -> None:
    data = base64.urlsafe_b64encode(b"\xfb\xff\xfe png bytes").decode().rstrip("=")
    assert "-" in data or "_" in data
    body = {"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "image/png", "data": data}}]}]}
    assert sim.generate("gemini-2.5-flash", body).status_code == 200


def test_garbage_signature_with_dash_is_a_base64_error(sim: Sim) -> None:
    first = calls(sim.generate("gemini-3-pro-preview", req("call get_time please")).json())[0]
    r = sim.generate("gemini-3-pro-preview", _round_trip("x", {**first, "thoughtSignature": "garb-sig!"}, {}))
    assert r.status_code == 400
    assert r.json()["error"]["message"] == (
        "Invalid value at 'contents[1].parts[0].thought_signature' (TYPE_BYTES), Base64 decoding failed for "
        '"garb-sig!"'
    )


@pytest.mark.parametrize("allowed", [["nope"], ["get_time", "nope"]])
def test_mode_any_with_undeclared_allowed_name_is_400(sim: Sim, allowed: list[str]) -> None:
    # simulator's choice (docs/simulator.md): ANY must call a function, so naming one that is not
    # declared is a 400 rather than a silent text answer
    r = sim.generate("gemini-2.5-flash", req("hello get_time", "ANY", allowed))
    assert r.status_code == 400
    i = allowed.index("nope")
    assert r.json()["error"]["message"] == (
        f"* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names[{i}]: "
        'allowed_function_names contains "nope", which is not a declared function.\n'
    )
    # ANY always calls when its names are declared
    for text in ("hello", "get_weather please"):
        parts = calls(sim.generate("gemini-2.5-flash", req(text, "ANY", ["get_time"])).json())
        assert [p["functionCall"]["name"] for p in parts] == ["get_time"]


@pytest.mark.parametrize(
    "text", ["Call get_weather.", "get_weather: Paris", "(get_weather)", "use get_weather, please", "get_weather!"]
)
def test_name_followed_or_preceded_by_punctuation_is_matched(sim: Sim, text: str) -> None:
    (part,) = calls(sim.generate("gemini-2.0-flash", req(text)).json())
    assert part["functionCall"]["name"] == "get_weather"


@pytest.mark.parametrize(
    "text", ["get_weather_v2", "x.get_weather", "get_weather.v2", "my-get_weather", "get_weathers"]
)
def test_name_inside_a_longer_name_is_not_matched(sim: Sim, text: str) -> None:
    assert not calls(sim.generate("gemini-2.0-flash", req(text)).json())


FINAL = {
    "name": "final_result",
    "description": "The final response which ends this conversation",
    "parametersJsonSchema": {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]},
}


def _after_results(mode: str, decls: list[dict]) -> dict:
    body = _round_trip("gemini-2.5-flash", {"functionCall": {"name": "get_time", "args": {"tz": "UTC"}}}, {"t": 1})
    body["tools"] = [{"functionDeclarations": decls}]
    body["toolConfig"] = {"functionCallingConfig": {"mode": mode}}
    return body


@pytest.mark.parametrize("mode", ["AUTO", "ANY", "VALIDATED"])
def test_after_tool_results_the_reply_is_text_in_every_mode(sim: Sim, mode: str) -> None:
    r = sim.generate("gemini-2.5-flash", _after_results(mode, [WEATHER, TIME]))
    assert r.status_code == 200, r.text
    assert not calls(r.json())
    text = "".join(p["text"] for p in r.json()["candidates"][0]["content"]["parts"])
    assert 'function get_time returned {"t":1}' in text


def test_any_mode_calls_the_final_answer_tool_after_results(sim: Sim) -> None:
    r = sim.generate("gemini-2.5-flash", _after_results("ANY", [WEATHER, TIME, FINAL]))
    (part,) = calls(r.json())
    assert part["functionCall"]["name"] == "final_result"
    jsonschema.validate(part["functionCall"]["args"], FINAL["parametersJsonSchema"])


def test_final_answer_rule_by_description() -> None:
    from gemini_proxy.simulator.generate import is_final_answer

    assert is_final_answer({"name": "done", "description": "Return the final answer to the user"})
    assert is_final_answer({"name": "final_answer"})
    assert not is_final_answer({"name": "get_weather", "description": "Weather"})

from __future__ import annotations

import json

import pytest
from google.ai.generativelanguage_v1beta.types import GenerateContentResponse

from tests.simulator.conftest import FIXTURES, Sim, user
from tests.simulator.shapes import assert_shape


def sse_events(raw: bytes) -> list[dict]:
    assert raw.endswith(b"\r\n\r\n")
    events = raw.split(b"\r\n\r\n")[:-1]
    assert all(e.startswith(b"data: ") for e in events)
    assert b"[DONE]" not in raw
    return [json.loads(e[len(b"data: ") :]) for e in events]


def fixture_sse(name: str) -> list[dict]:
    raw = (FIXTURES / name).read_bytes()
    return [json.loads(e[6:]) for e in raw.split(b"\r\n\r\n") if e.strip()]


def fixture_array(name: str) -> list[dict]:
    return json.loads((FIXTURES / name).read_text())


def test_sse_framing_matches_fixture_bytes(sim: Sim) -> None:
    r = sim.stream("gemini-2.0-flash", user("What is the capital of France?"))
    assert r.headers["content-type"] == "text/event-stream"
    assert r.headers["content-disposition"] == "attachment"
    events = sse_events(r.content)
    assert len(events) == 3
    # Google's one-line JSON style: '": "' after keys and ',' without a space
    first_line = r.content.split(b"\r\n")[0]
    assert first_line.startswith(b'data: {"candidates": [{"content": {"parts": [{"text": "')
    assert b'"role": "model"},' in first_line or b'"role": "model"}' in first_line
    fixture = (FIXTURES / "pai-stream-text-crlf.sse").read_bytes()
    assert fixture.split(b"\r\n")[0][:55] == first_line[:55]


def test_stream_chunks_usage_and_finish(sim: Sim) -> None:
    events = sse_events(sim.stream("gemini-2.0-flash", user("one two three four five six")).content)
    assert (
        "".join(e["candidates"][0]["content"]["parts"][0]["text"] for e in events)
        == "Simulated reply to turn 1: one two three four five six"
    )
    # 2.0 streams carry the output count only on the last chunk (like fb-stream-text-basic.sse)
    assert [e["usageMetadata"].get("candidatesTokenCount") for e in events] == [None, None, 11]
    assert ["finishReason" in e["candidates"][0] for e in events] == [False, False, True]
    assert len({e["responseId"] for e in events}) == 1
    assert all(e["modelVersion"] == "gemini-2.0-flash" for e in events)
    for e in events:
        GenerateContentResponse.from_json(json.dumps(e), ignore_unknown_fields=True)


def test_stream_chunks_setting(make_sim) -> None:  # type: ignore[no-untyped-def]
    s = make_sim(stream_chunks=5)
    assert len(sse_events(s.stream("gemini-2.0-flash", user("a b c d e f g h")).content)) == 5


def test_json_array_stream_separators(sim: Sim) -> None:
    r = sim.stream("gemini-2.5-flash", user("hello"), sse=False)
    assert r.headers["content-type"] == "application/json; charset=UTF-8"
    raw = r.content
    assert raw.startswith(b"[{\n") and raw.endswith(b"}\n]")
    assert raw.count(b"\n,\r\n") == 2
    fx = (FIXTURES / "llmg-stream-jsonarray-gemini3-function-call.json").read_bytes()
    assert fx.startswith(b"[{\n") and fx.endswith(b"}\n]") and b"\n,\r\n" in fx
    assert len(json.loads(raw)) == 3


def test_gemini3_stream_ends_with_signed_empty_text(sim: Sim) -> None:
    events = sse_events(sim.stream("gemini-3-flash-preview", user("hi")).content)
    last = events[-1]["candidates"][0]
    assert last["content"]["parts"] == [
        {"text": "", "thoughtSignature": last["content"]["parts"][0]["thoughtSignature"]}
    ]
    assert last["finishReason"] == "STOP"
    assert all("finishReason" not in e["candidates"][0] for e in events[:-1])


def test_thoughts_stream_first(sim: Sim) -> None:
    req = {**user("why"), "generationConfig": {"thinkingConfig": {"includeThoughts": True}}}
    events = sse_events(sim.stream("gemini-2.5-pro", req).content)
    flags = [bool(e["candidates"][0]["content"]["parts"][0].get("thought")) for e in events]
    assert flags[:2] == [True, True] and not any(flags[2:])
    thoughts = [e["usageMetadata"]["thoughtsTokenCount"] for e in events]
    assert thoughts == sorted(thoughts)


def test_flash_latest_alias_answers_with_real_model_version(sim: Sim) -> None:
    events = sse_events(sim.stream("gemini-flash-latest", user("hi")).content)
    assert {e["modelVersion"] for e in events} == {"gemini-3-flash-preview"}


CASES = [
    ("pai-stream-text-crlf.sse", "gemini-2.0-flash", {}, "sse"),
    ("fb-stream-text-basic.sse", "gemini-2.0-flash", {}, "sse"),
    (
        "pai-stream-thinking-25pro.sse",
        "gemini-2.5-pro",
        {"generationConfig": {"thinkingConfig": {"includeThoughts": True}}},
        "sse",
    ),
    (
        "fb-stream-thinking-text.sse",
        "gemini-2.5-flash",
        {"generationConfig": {"thinkingConfig": {"includeThoughts": True}}},
        "sse",
    ),
    ("pai-stream-gemini3-after-tool.sse", "gemini-3-pro-preview", {}, "sse"),
    ("fb-stream-prompt-blocked.sse", "gemini-2.5-flash", {"text": "[[sim:block-prompt]]"}, "sse"),
    ("fb-stream-recitation.sse", "gemini-2.0-flash", {"text": "[[sim:recitation]]"}, "sse"),
    ("llmg-stream-jsonarray-gemini36-text-signature.json", "gemini-flash-latest", {}, "array"),
    ("fb-unary-text-basic.json", "gemini-2.0-flash", {}, "unary"),
    (
        "pai-unary-max-tokens.json",
        "gemini-2.5-flash",
        {"generationConfig": {"maxOutputTokens": 5, "thinkingConfig": {"thinkingBudget": 0}}},
        "unary",
    ),
    (
        "pai-unary-max-tokens-thinking-no-parts.json",
        "gemini-2.5-pro",
        {"generationConfig": {"maxOutputTokens": 2}},
        "unary",
    ),
    ("pai-unary-safety-blocked-candidate.json", "gemini-2.5-flash", {"text": "[[sim:safety]]"}, "unary"),
    ("cookbook-unary-prompt-blocked.json", "gemini-2.5-flash", {"text": "[[sim:block-prompt]]"}, "unary"),
]


@pytest.mark.parametrize(("fixture", "model", "extra", "mode"), CASES, ids=[c[0] for c in CASES])
def test_shapes_match_fixtures(sim: Sim, fixture: str, model: str, extra: dict, mode: str) -> None:
    req = {**user(extra.pop("text", "What is the capital of France?")), **extra}
    if mode == "sse":
        ours = sse_events(sim.stream(model, req).content)
        recorded = fixture_sse(fixture)
    elif mode == "array":
        ours, recorded = sim.stream(model, req, sse=False).json(), fixture_array(fixture)
    else:
        ours, recorded = [sim.generate(model, req).json()], [json.loads((FIXTURES / fixture).read_text())]
    assert_shape(ours[0], recorded[0])
    assert_shape(ours[-1], recorded[-1])
    assert ("finishReason" in ours[-1].get("candidates", [{}])[0]) == (
        "finishReason" in recorded[-1].get("candidates", [{}])[0]
    )


def count_tokens(sim: Sim, model: str, body: dict) -> int:
    inner = {"model": f"models/{model}", **body}
    r = sim.post(f"/v1beta/models/{model}:countTokens", {"generateContentRequest": inner})
    assert r.status_code == 200, r.text
    return int(r.json()["totalTokens"])


@pytest.mark.parametrize(
    ("model", "extra"),
    [
        ("gemini-2.0-flash", {}),
        ("gemini-2.5-flash", {"generationConfig": {"thinkingConfig": {"includeThoughts": True}}}),
        ("gemini-2.5-flash-lite", {}),
        ("gemini-3-flash-preview", {}),
        ("gemini-2.0-flash", {"generationConfig": {"candidateCount": 2}}),
    ],
)
def test_stream_usage_only_final_chunk_is_true(sim: Sim, model: str, extra: dict) -> None:
    # Real streams change promptTokenCount in the last chunk (15→13, 55→257, 89→121; docs/protocol.md §6) and
    # 2.0 omits candidatesTokenCount until then: a proxy must use the last chunk's usage.
    body = {**user("one two three four five six seven"), "systemInstruction": {"parts": [{"text": "Be brief."}]},
            **extra}
    events = sse_events(sim.stream(model, body).content)
    assert len(events) >= 3
    unary = sim.generate(model, body).json()["usageMetadata"]
    true_prompt = count_tokens(sim, model, body)
    final = events[-1]["usageMetadata"]
    assert final == unary and final["promptTokenCount"] == true_prompt
    assert final["promptTokensDetails"] == [{"modality": "TEXT", "tokenCount": true_prompt}]
    for e in events[:-1]:
        u = e["usageMetadata"]
        assert u["promptTokenCount"] == true_prompt + 2
        assert u["promptTokensDetails"] == [{"modality": "TEXT", "tokenCount": true_prompt + 2}]
        assert u["totalTokenCount"] == (
            u["promptTokenCount"] + u.get("candidatesTokenCount", 0) + u.get("thoughtsTokenCount", 0)
        )
        if model.startswith("gemini-2.0"):
            assert "candidatesTokenCount" not in u and u["totalTokenCount"] == u["promptTokenCount"]
    if not model.startswith("gemini-2.0"):
        assert "candidatesTokenCount" in events[-2]["usageMetadata"]


def test_stream_usage_interim_with_cache(sim: Sim) -> None:
    sim.config.cache_min_tokens = 0
    cache = sim.post("/v1beta/cachedContents", {
        "model": "models/gemini-2.0-flash", "contents": [{"role": "user", "parts": [{"text": "a b c d e"}]}],
    }).json()
    body = {**user("x y z w"), "cachedContent": cache["name"]}
    events = sse_events(sim.stream("gemini-2.0-flash", body).content)
    first, last = events[0]["usageMetadata"], events[-1]["usageMetadata"]
    assert last["cachedContentTokenCount"] == first["cachedContentTokenCount"] == 5
    assert first["promptTokenCount"] == last["promptTokenCount"] + 2 == 5 + 4 + 2
    assert first["promptTokensDetails"][0]["tokenCount"] == last["promptTokensDetails"][0]["tokenCount"] + 2


def test_prompt_blocked_is_only_prompt_feedback_like_the_recordings(sim: Sim) -> None:
    body = user("[[sim:block-prompt]] hi")
    unary = sim.generate("gemini-2.5-flash", body).json()
    (chunk,) = sse_events(sim.stream("gemini-2.0-flash", body).content)
    (array_chunk,) = sim.stream("gemini-3-flash-preview", body, sse=False).json()
    recorded_unary = json.loads((FIXTURES / "cookbook-unary-prompt-blocked.json").read_text())
    (recorded_chunk,) = fixture_sse("fb-stream-prompt-blocked.sse")
    for ours, recorded in ((unary, recorded_unary), (chunk, recorded_chunk), (array_chunk, recorded_chunk)):
        assert list(ours) == list(recorded) == ["promptFeedback"]
        fb, rec = ours["promptFeedback"], recorded["promptFeedback"]
        assert list(fb) == list(rec) and fb["blockReason"] == "SAFETY"
        assert [list(r) for r in fb["safetyRatings"]] == [list(r) for r in rec["safetyRatings"]]
        assert [r["category"] for r in fb["safetyRatings"]] == [r["category"] for r in rec["safetyRatings"]]
    assert chunk == recorded_chunk  # same categories, same HIGH one

"""Gemini's built-in tools in the simulator: Google Search grounding, URL context, code execution."""

from __future__ import annotations

from typing import Any

from google import genai
from google.genai import types

from tests.simulator.conftest import Sim, user
from tests.simulator.test_streaming import sse_events


def _with(tools: list[dict[str, Any]], text: str) -> dict[str, Any]:
    return {**user(text), "tools": tools}


def test_search_grounds_the_answer_with_byte_offsets(sim: Sim) -> None:
    body = sim.generate("gemini-2.5-flash", _with([{"googleSearch": {}}], "who won the 2026 cup ünïcode")).json()
    cand = body["candidates"][0]
    text = cand["content"]["parts"][0]["text"]
    meta = cand["groundingMetadata"]
    assert meta["webSearchQueries"] == ["who won the 2026 cup ünïcode"]
    assert [c["web"]["title"] for c in meta["groundingChunks"]] == ["example.com", "example.com"]
    assert all(c["web"]["uri"].startswith("https://example.com/") for c in meta["groundingChunks"])
    (support,) = meta["groundingSupports"]
    assert support["segment"]["endIndex"] == len(text.encode()) > len(text)  # UTF-8 bytes, as Google counts
    assert support["groundingChunkIndices"] == [0, 1]
    plain = sim.generate("gemini-2.5-flash", user("who won the 2026 cup ünïcode")).json()["candidates"][0]
    assert "groundingMetadata" not in plain


def test_search_metadata_comes_with_the_streams_last_chunk(sim: Sim) -> None:
    body = _with([{"googleSearch": {}}], "latest news on rust")
    events = sse_events(sim.stream("gemini-2.5-flash", body).content)
    carrying = [i for i, e in enumerate(events) if "groundingMetadata" in e["candidates"][0]]
    assert carrying == [len(events) - 1]
    assert events[-1]["candidates"][0]["finishReason"] == "STOP"


def test_url_context_lists_every_url_of_the_prompt(sim: Sim) -> None:
    text = "compare https://example.org/a and https://docs.example.net/b?x=1, not https://gone.invalid/page"
    cand = sim.generate("gemini-2.5-flash", _with([{"urlContext": {}}], text)).json()["candidates"][0]
    assert cand["urlContextMetadata"]["urlMetadata"] == [
        {"retrievedUrl": "https://example.org/a", "urlRetrievalStatus": "URL_RETRIEVAL_STATUS_SUCCESS"},
        {"retrievedUrl": "https://docs.example.net/b?x=1", "urlRetrievalStatus": "URL_RETRIEVAL_STATUS_SUCCESS"},
        {"retrievedUrl": "https://gone.invalid/page", "urlRetrievalStatus": "URL_RETRIEVAL_STATUS_ERROR"},
    ]
    none = sim.generate("gemini-2.5-flash", _with([{"urlContext": {}}], "no links here")).json()["candidates"][0]
    assert "urlContextMetadata" not in none


def test_code_execution_runs_the_arithmetic_of_the_prompt(sim: Sim) -> None:
    tools = [{"codeExecution": {}}]
    answer = sim.generate("gemini-2.5-flash", _with(tools, "what is 17 * 23 + 1?")).json()
    parts = answer["candidates"][0]["content"]["parts"]
    assert parts[0] == {"executableCode": {"language": "PYTHON", "code": "print(17 * 23 + 1)\n"}}
    assert parts[1] == {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "392\n"}}
    assert "text" in parts[2]
    huge = sim.generate("gemini-2.5-flash", _with(tools, "compute 9 ** 9999999")).json()["candidates"][0]
    assert huge["content"]["parts"][0]["executableCode"]["code"].startswith("print('compute")  # not evaluated
    failed = sim.generate("gemini-2.5-flash", _with(tools, "run it [[sim:code-error]]")).json()["candidates"][0]
    result = failed["content"]["parts"][1]["codeExecutionResult"]
    assert result["outcome"] == "OUTCOME_FAILED" and "ValueError" in result["output"]


def test_code_parts_stream_whole_before_the_text_and_are_counted(sim: Sim) -> None:
    body = _with([{"codeExecution": {}}], "what is 2 + 2")
    events = sse_events(sim.stream("gemini-2.5-flash", body).content)
    first = events[0]["candidates"][0]["content"]["parts"]
    assert [next(iter(p)) for p in first] == ["executableCode", "codeExecutionResult"]
    plain = sim.generate("gemini-2.5-flash", user("what is 2 + 2")).json()["usageMetadata"]
    assert events[-1]["usageMetadata"]["candidatesTokenCount"] > plain["candidatesTokenCount"]


def test_the_google_genai_sdk_reads_them(sim: Sim) -> None:
    client = genai.Client(api_key="sim-key-1", http_options={"base_url": sim.base_url})
    config = types.GenerateContentConfig(tools=[
        types.Tool(google_search=types.GoogleSearch()), types.Tool(url_context=types.UrlContext()),
        types.Tool(code_execution=types.ToolCodeExecution()),
    ])
    r = client.models.generate_content(model="gemini-2.5-flash", contents="what is 6*7 see https://example.org/",
                                       config=config)
    cand = r.candidates[0]
    assert cand.grounding_metadata.grounding_chunks[0].web.title == "example.com"
    status = cand.url_context_metadata.url_metadata[0].url_retrieval_status
    assert status == types.UrlRetrievalStatus.URL_RETRIEVAL_STATUS_SUCCESS
    assert r.executable_code == "print(6*7)\n" and r.code_execution_result == "42\n"

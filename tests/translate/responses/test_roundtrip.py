"""Tool loops across turns: stateless through encrypted_content, stored through previous_response_id;
namespaced calls come back split; grounding; failures; bad input is a 400 naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from gemini_proxy.errors import InvalidRequest, UpstreamStatusError
from gemini_proxy.translate.messages import SKIP_SIGNATURE
from gemini_proxy.translate.responses import ResponsesStreamTranslator, sse, stored_record, to_input_items

from ..helpers import load_json, load_stream
from .helpers import call_of, check_events, ids, stream, unary

G3 = "gemini-3-flash-preview"
TOOL = {"type": "function", "name": "get_country", "parameters": {"type": "object", "properties": {}}}


def _signature(name: str) -> str:
    for chunk in load_stream(name):
        for part in chunk["candidates"][0]["content"].get("parts", []):
            if "functionCall" in part:
                return str(part["thoughtSignature"])
    raise AssertionError


def test_gemini3_tool_loop_without_server_state() -> None:
    """store false + include encrypted_content, as Codex: the client sends back what it got."""
    first = {
        "model": G3,
        "input": "where?",
        "tools": [TOOL],
        "store": False,
        "include": ["reasoning.encrypted_content"],
    }
    events, result = stream(call_of(first), load_stream("pai-stream-gemini3-function-call-signature.sse"))
    done = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    call = next(i for i in done if i["type"] == "function_call")
    second = {
        **first,
        "input": [
            {"role": "user", "content": "where?"},
            *done,
            {"type": "function_call_output", "call_id": call["call_id"], "output": "Mexico"},
        ],
    }
    contents = call_of(second).gemini_body["contents"]
    assert contents[1] == {
        "role": "model",
        "parts": [
            {
                "functionCall": {"name": "get_country", "args": {}},
                "thoughtSignature": _signature("pai-stream-gemini3-function-call-signature.sse"),
            }
        ],
    }
    assert contents[2]["parts"][0]["functionResponse"] == {"name": "get_country", "response": {"output": "Mexico"}}
    # The same items without the reasoning item: the bypass value, not a 400 from Gemini.
    bare = {**second, "input": [i for i in second["input"] if i.get("type") != "reasoning"]}
    assert call_of(bare).gemini_body["contents"][1]["parts"][0]["thoughtSignature"] == SKIP_SIGNATURE
    # ... and the answer after the tool closes the loop.
    _, after = stream(call_of(second), load_stream("pai-stream-gemini3-after-tool.sse"))
    assert after.body["output"][0]["content"][0]["text"] == "The capital of Mexico is Mexico City."


def test_text_signature_returns_to_the_turns_text() -> None:
    req = {"model": G3, "input": "hi", "store": False, "include": ["reasoning.encrypted_content"]}
    _, result = stream(call_of(req), load_stream("llmg-stream-jsonarray-gemini36-text-signature.json"))
    sig = result.conversation["contents"][-1]["parts"][-1]["thoughtSignature"]
    nxt = {
        **req,
        "input": [{"role": "user", "content": "hi"}, *result.body["output"], {"role": "user", "content": "and?"}],
    }
    model_turn = call_of(nxt).gemini_body["contents"][1]
    assert model_turn == {
        "role": "model",
        "parts": [{"text": "Hello! How can I help you today?", "thoughtSignature": sig}],
    }


def test_previous_response_id_through_the_stored_record() -> None:
    first = {"model": G3, "input": "where?", "tools": [TOOL]}
    call1 = call_of(first)
    result = unary(call1, load_json("pai-unary-parallel-function-calls-gemini3.json"))
    record = stored_record(call1, result, to_input_items(first, ids()))
    assert record["input_items"][0]["content"] == [{"type": "input_text", "text": "where?"}]
    assert record["response"]["output"][0]["type"] == "function_call"  # no encrypted content asked: no reasoning item
    call_ids = [i["call_id"] for i in result.body["output"]]
    follow = {
        "model": G3,
        "previous_response_id": result.body["id"],
        "tools": [TOOL],
        "input": [{"type": "function_call_output", "call_id": c, "output": str(k)} for k, c in enumerate(call_ids)],
    }
    call2 = call_of(follow, previous=record["conversation"])
    contents = call2.gemini_body["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert "thoughtSignature" in contents[1]["parts"][0] and len(contents[2]["parts"]) == 3
    assert call2.echo["previous_response_id"] == result.body["id"]
    assert "thoughtSignature" not in record["conversation"]["contents"][0]["parts"][0]  # the store's copy is untouched


def test_namespaced_call_comes_back_split() -> None:
    ns = {"type": "namespace", "name": "geo", "description": "", "tools": [{**TOOL, "name": "country"}]}
    call = call_of({"model": G3, "input": "x", "tools": [ns]})
    answer = {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"functionCall": {"name": "geo__country", "args": {"a": 1}}}]},
                "finishReason": "STOP",
            }
        ]
    }
    item = unary(call, answer).body["output"][0]
    assert (item["namespace"], item["name"], item["arguments"]) == ("geo", "country", '{"a":1}')


def test_parallel_tool_calls_false_keeps_the_first() -> None:
    call = call_of({"model": G3, "input": "x", "tools": [TOOL], "parallel_tool_calls": False})
    out = unary(call, load_json("pai-unary-parallel-function-calls-gemini3.json")).body["output"]
    assert [i["type"] for i in out] == ["function_call"]


def test_grounding_becomes_url_citations() -> None:
    call = call_of({"model": G3, "input": "news", "tools": [{"type": "web_search"}]})
    text = "Ünïcode first. Second claim."
    start = len("Ünïcode first. ".encode())
    chunks = [
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "Ünïcode first. "}]}}]},
        {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": "Second claim."}]},
                    "finishReason": "STOP",
                    "groundingMetadata": {
                        "webSearchQueries": ["q"],
                        "groundingChunks": [{"web": {"uri": "https://a.example/x", "title": "A"}}],
                        "groundingSupports": [
                            {
                                "segment": {"startIndex": start, "endIndex": len(text.encode())},
                                "groundingChunkIndices": [0, 7],
                            }
                        ],
                    },
                }
            ]
        },
    ]
    events, result = stream(call, chunks)
    ann = result.body["output"][0]["content"][0]["annotations"]
    assert ann == [
        {"type": "url_citation", "url": "https://a.example/x", "title": "A", "start_index": 15, "end_index": 28}
    ]
    assert text[15:28] == "Second claim."
    assert [e["type"] for e in events].count("response.output_text.annotation.added") == 1
    # the search itself: an item after the message, in the stream and in the unary answer alike
    search = result.body["output"][1]
    assert search["type"] == "web_search_call" and search["id"].startswith("ws")
    assert (search["status"], search["action"]) == ("completed", {"type": "search", "query": "q", "queries": ["q"]})
    kinds = [e["type"] for e in events]
    stages = [kinds.index(f"response.web_search_call.{s}") for s in ("in_progress", "searching", "completed")]
    assert stages == sorted(stages) and kinds[-1] == "response.completed"
    whole = dict(chunks[1], candidates=[dict(chunks[1]["candidates"][0], content={"role": "model", "parts": [
        {"text": text}]})])  # fmt: skip
    assert [i["type"] for i in unary(call, whole).body["output"]] == ["message", "web_search_call"]
    with_sources = call_of({"model": G3, "input": "news", "tools": [{"type": "web_search"}],
                            "include": ["web_search_call.action.sources"]})  # fmt: skip
    action = unary(with_sources, whole).body["output"][1]["action"]
    assert action["sources"] == [{"type": "url", "url": "https://a.example/x"}]
    without_tool = call_of({"model": G3, "input": "news"})
    assert [i["type"] for i in unary(without_tool, whole).body["output"]] == ["message"]


def test_failure_midway_and_sse() -> None:
    call = call_of({"model": G3, "input": "x", "stream": True})
    t = ResponsesStreamTranslator(call, response_id="resp_f", created_at=1, new_id=ids())
    events = t.feed(load_stream("fb-stream-text-basic.sse")[0])
    exc = UpstreamStatusError(429, load_json("err-429-quota-retryinfo.json"))
    events += t.fail(exc)
    check_events(events)
    assert events[-1]["response"]["status"] == "failed"
    assert events[-1]["response"]["error"]["code"] == "rate_limit_exceeded"
    assert t.finish(completed_at=2) == []
    err = t.error_event(exc)
    assert err["type"] == "error" and err["code"] == "rate_limit_exceeded" and err["sequence_number"] == len(events)
    raw = sse(events[0])
    assert raw.startswith(b"event: response.created\ndata: {") and raw.endswith(b"}\n\n")


B = {"model": "gemini-2.5-flash", "input": "hi"}
BAD: list[tuple[dict[str, Any], str | None]] = [
    ({**B, "input": 3}, "input"),
    ({"model": "gemini-2.5-flash"}, "input"),
    ({**B, "input": []}, "input"),
    ({**B, "input": [{"type": "message", "role": "boss", "content": "x"}]}, "input[0].role"),
    ({**B, "input": [{"type": "computer_call_output", "call_id": "c"}]}, "input[0].type"),
    ({**B, "input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
    ({**B, "input": [{"role": "user", "content": [{"type": "input_audio"}]}]}, "input[0].content[0].type"),
    ({**B, "input": [{"role": "user", "content": [{"type": "input_text", "text": 5}]}]}, "input[0].content[0].text"),
    (
        {**B, "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}]},
        "input[0].content[0].file_id",
    ),
    (
        {
            **B,
            "input": [{"role": "user", "content": [{"type": "input_image", "image_url": "https://x.example/a.png"}]}],
        },
        "input[0].content[0].image_url",
    ),
    (
        {**B, "input": [{"role": "user", "content": [{"type": "input_file", "file_id": "file-1"}]}]},
        "input[0].content[0].file_id",
    ),
    ({**B, "input": [{"type": "function_call_output", "call_id": "nope", "output": "x"}]}, "input[0].call_id"),
    ({**B, "input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": "{"}]}, "input[0].arguments"),
    ({**B, "input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}, "input[0].call_id"),
    (
        {**B, "input": [{"type": "reasoning", "summary": [], "encrypted_content": "gp1.!!!"}]},
        "input[0].encrypted_content",
    ),
    ({**B, "tools": [{"type": "file_search", "vector_store_ids": ["v"]}]}, "tools[0].type"),
    ({**B, "tools": [{"type": "custom", "name": "apply_patch"}]}, "tools[0].type"),
    ({**B, "tools": [{"type": "function", "name": "1bad"}]}, "tools[0].name"),
    ({**B, "tools": [{"type": "function", "name": "f", "strict": "yes"}]}, "tools[0].strict"),
    ({**B, "tools": [{"type": "namespace", "name": "n", "tools": []}]}, "tools[0].tools"),
    (
        {**B, "tools": [{"type": "namespace", "name": "n", "tools": [{"type": "custom", "name": "c"}]}]},
        "tools[0].tools[0].type",
    ),
    (
        {
            **B,
            "tools": [
                {"type": "function", "name": "n__f"},
                {"type": "namespace", "name": "n", "tools": [{"type": "function", "name": "f"}]},
            ],
        },
        "tools[1].tools[0].name",
    ),
    ({**B, "tool_choice": "required"}, "tool_choice"),
    (
        {**B, "tools": [{"type": "function", "name": "f"}], "tool_choice": {"type": "function", "name": "g"}},
        "tool_choice.name",
    ),
    (
        {**B, "tools": [{"type": "function", "name": "f"}], "tool_choice": {"type": "mcp", "server_label": "s"}},
        "tool_choice.type",
    ),
    ({**B, "text": {"format": {"type": "yaml"}}}, "text.format.type"),
    ({**B, "text": {"format": {"type": "json_schema", "schema": {"type": "object"}}}}, "text.format.name"),
    (
        {**B, "text": {"format": {"type": "json_schema", "name": "n", "schema": {"type": "object", "properties": 3}}}},
        "text.format.schema",
    ),
    ({**B, "reasoning": {"effort": "huge"}}, "reasoning.effort"),
    ({**B, "reasoning": {"effort": ["low"]}}, "reasoning.effort"),
    ({**B, "reasoning": {"summary": "long"}}, "reasoning.summary"),
    ({**B, "max_output_tokens": 0}, "max_output_tokens"),
    ({**B, "temperature": 3}, "temperature"),
    ({**B, "top_p": "1"}, "top_p"),
    ({**B, "include": ["everything"]}, "include[0]"),
    ({**B, "include": [{"a": 1}]}, "include[0]"),
    ({**B, "metadata": {"k": 1}}, "metadata.k"),
    ({**B, "store": "no"}, "store"),
    ({**B, "background": True}, "background"),
    ({**B, "conversation": "conv_1"}, "conversation"),
    ({**B, "truncation": "sometimes"}, "truncation"),
    ({**B, "tools": [{"type": {"x": 1}}]}, "tools[0].type"),
    ([1], None),
]


@pytest.mark.parametrize(("body", "param"), BAD, ids=[str(p) for _, p in BAD])
def test_bad_input_is_a_400_naming_the_field(body: Any, param: str | None) -> None:
    with pytest.raises(InvalidRequest) as info:
        call_of(body)
    assert info.value.status == 400 and info.value.param == param

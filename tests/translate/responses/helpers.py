"""Shared by the Responses translation tests: building requests, running answers through the
translator, and checking every body and event against OpenAI's spec and the openai SDK's types."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pydantic
from openai.types.responses import Response, ResponseStreamEvent

from gemini_proxy.translate.responses import (
    ResponsesCall,
    ResponsesResult,
    ResponsesStreamTranslator,
    to_gemini_request,
    to_response,
)

from ..helpers import assert_valid

ALIASES = {"gpt-5": "gemini-2.5-flash"}
_EVENTS: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(ResponseStreamEvent)


def ids() -> Callable[[str], str]:
    numbers = itertools.count(1)
    return lambda prefix: f"{prefix}_{next(numbers)}"


def call_of(body: Any, **kw: Any) -> ResponsesCall:
    return to_gemini_request(
        body,
        aliases=ALIASES,
        default_model=kw.pop("default_model", "gemini-2.5-flash"),
        fetched_media=kw.pop("fetched_media", {}),
        previous=kw.pop("previous", None),
    )


def gem(body: Any, **kw: Any) -> dict[str, Any]:
    return call_of(body, **kw).gemini_body


def check_response(body: dict[str, Any]) -> Response:
    """Valid against the spec's ``Response`` and parsed by the SDK's pydantic model."""
    assert_valid("Response", body)
    return Response.model_validate(body)


def check_events(events: list[dict[str, Any]]) -> None:
    """Every event valid (spec and SDK), numbered 0..n-1, begun and ended as OpenAI does, and
    consistent: each item's ``done`` is the item of the final response, deltas add up."""
    for event in events:
        assert_valid("ResponseStreamEvent", event)
        _EVENTS.validate_python(event)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert [e["type"] for e in events[:2]] == ["response.created", "response.in_progress"]
    last = events[-1]
    assert last["type"] in ("response.completed", "response.incomplete", "response.failed")
    assert [e["type"] for e in events].count(last["type"]) == 1
    final = last["response"]
    check_response(final)
    done = {e["output_index"]: e["item"] for e in events if e["type"] == "response.output_item.done"}
    added = [e["output_index"] for e in events if e["type"] == "response.output_item.added"]
    assert added == list(range(len(final["output"])))
    if last["type"] != "response.failed":
        assert done == dict(enumerate(final["output"]))
    texts: dict[tuple[int, int], str] = {}
    for e in events:
        if e["type"] == "response.output_text.delta":
            texts[(e["output_index"], e["content_index"])] = texts.get((e["output_index"], e["content_index"]), "")
            texts[(e["output_index"], e["content_index"])] += e["delta"]
        elif e["type"] == "response.output_text.done":
            assert texts[(e["output_index"], e["content_index"])] == e["text"]
        elif e["type"] == "response.function_call_arguments.done":
            assert final["output"][e["output_index"]]["arguments"] == e["arguments"]
        elif e["type"] == "response.reasoning_summary_text.done":
            assert final["output"][e["output_index"]]["summary"][e["summary_index"]]["text"] == e["text"]


def stream(call: ResponsesCall, chunks: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], ResponsesResult]:
    t = ResponsesStreamTranslator(call, response_id="resp_test", created_at=1_700_000_000, new_id=ids())
    events = t.start()
    for chunk in chunks:
        events += t.feed(chunk)
    events += t.finish(completed_at=1_700_000_005)
    check_events(events)
    return events, t.result


def unary(call: ResponsesCall, resp: dict[str, Any]) -> ResponsesResult:
    result = to_response(resp, call=call, response_id="resp_test", created_at=1_700_000_000,
                         completed_at=1_700_000_005, new_id=ids())  # fmt: skip
    check_response(result.body)
    return result

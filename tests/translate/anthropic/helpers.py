"""Anthropic-side test helpers: requests, id factories, and strict validation with the SDK's models."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from typing import Any

import anthropic.types as sdk
import orjson
from anthropic.types.shared import ErrorResponse
from pydantic import BaseModel, TypeAdapter

from gemini_proxy.translate.anthropic import (
    DEFAULT_CLAUDE_MODELS,
    Event,
    MessagesCall,
    MessageStreamTranslator,
    to_gemini_request,
    to_message,
)

USER = {"role": "user", "content": "hi"}
PNG = "iVBORw0KGgo="
SIG = "c2lnbmF0dXJl"


def ids() -> Callable[[str], str]:
    numbers = itertools.count(1)
    return lambda prefix: f"{prefix}{next(numbers):02d}"


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "gemini-2.5-flash", "max_tokens": 1024, "messages": [USER], **fields}


def translate(request: Any, **kw: Any) -> MessagesCall:
    return to_gemini_request(
        request,
        claude_models=kw.pop("claude_models", DEFAULT_CLAUDE_MODELS),
        aliases=kw.pop("aliases", {"fast": "gemini-2.5-flash-lite"}),
        signatures=kw.pop("signatures", {}),
        fetched_media=kw.pop("fetched_media", {}),
    )


def gem(request: Any, **kw: Any) -> dict[str, Any]:
    result: dict[str, Any] = translate(request, **kw).gemini_body
    return result


def call(model: str = "gemini-2.5-flash", **kw: Any) -> MessagesCall:
    return MessagesCall(model=model, requested_model=kw.pop("requested_model", "claude-sonnet-4-5"),
                        gemini_body={}, stream=True, **kw)  # fmt: skip


def unary(resp: Any, c: MessagesCall | None = None) -> dict[str, Any]:
    message = to_message(resp, call=c or call(include_thoughts=True), message_id="msg_01", new_id=ids())
    assert_message(message)
    return message


def stream(chunks: list[Any], c: MessagesCall | None = None) -> list[Event]:
    machine = MessageStreamTranslator(c or call(include_thoughts=True), message_id="msg_01", new_id=ids())
    events = [e for chunk in chunks for e in machine.feed(chunk)] + machine.finish()
    assert_stream(events)
    return events


# -- strict validation -------------------------------------------------------------------------


def _no_extra(obj: object, where: str) -> None:
    """The SDK's models accept unknown fields (``extra="allow"``): refuse them, all the way down."""
    if isinstance(obj, BaseModel):
        assert not obj.model_extra, f"{where}: {type(obj).__name__} has unknown fields {sorted(obj.model_extra)}"
        for name in type(obj).model_fields:
            _no_extra(getattr(obj, name), f"{where}.{name}")
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            _no_extra(item, f"{where}[{i}]")
    elif isinstance(obj, dict):
        for key, value in obj.items():
            _no_extra(value, f"{where}.{key}")


@functools.cache
def _adapter(kind: str) -> TypeAdapter[Any]:
    return TypeAdapter(sdk.RawMessageStreamEvent if kind == "event" else ErrorResponse)


def roundtrip(data: Any) -> Any:
    """What a client parses: the JSON bytes, not our Python objects."""
    return orjson.loads(orjson.dumps(data))


def assert_message(message: dict[str, Any]) -> None:
    _no_extra(sdk.Message.model_validate(roundtrip(message)), "message")
    assert message["stop_reason"] is not None


def assert_error(body: dict[str, Any]) -> None:
    _no_extra(_adapter("error").validate_python(roundtrip(body)), "error")


def assert_stream(events: list[Event]) -> None:
    """Every event validates, and the sequence is Anthropic's: message_start, blocks (start, deltas,
    stop, indexes counting from 0), message_delta, message_stop."""
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"], names
    open_index: int | None = None
    next_index = 0
    for name, data in events:
        assert data["type"] == name
        _no_extra(_adapter("event").validate_python(roundtrip(data)), name)
        if name == "content_block_start":
            assert open_index is None and data["index"] == next_index, (open_index, data)
            open_index = next_index
            next_index += 1
        elif name == "content_block_delta":
            assert data["index"] == open_index
        elif name == "content_block_stop":
            assert data["index"] == open_index
            open_index = None
    assert open_index is None
    assert names.count("message_start") == 1 and names.count("message_delta") == 1


def accumulate(events: list[Event]) -> dict[str, Any]:
    """The message the SDK's ``messages.stream()`` helper builds from these events, as JSON."""
    from anthropic.lib.streaming._messages import accumulate_event

    snapshot: Any = None
    buffers: dict[int, bytes] = {}
    for _, data in events:
        event = _adapter("event").validate_python(roundtrip(data))
        snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs=buffers)
    return canonical(snapshot.model_dump(mode="json"))


def canonical(message: dict[str, Any]) -> dict[str, Any]:
    """A message as the SDK's ``Message`` model dumps it, without nulls (to compare two of them)."""
    dumped: dict[str, Any] = sdk.Message.model_validate(roundtrip(message)).model_dump(mode="json", exclude_none=True)
    for block in dumped["content"]:
        block.pop("parsed_output", None)
    return dumped

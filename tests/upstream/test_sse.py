"""Decoding Gemini's SSE bodies: framing, events split across reads, odd lines, bare errors."""

from __future__ import annotations

import json

import pytest

from gemini_proxy.upstream.sse import GeminiEventDecoder
from tests.translate.helpers import GEMINI_FIXTURES, load_stream

FIXTURES = sorted(GEMINI_FIXTURES.glob("*.sse"))


def decode(reads: list[bytes]) -> list[dict]:
    decoder = GeminiEventDecoder()
    events = [event for data in reads for event in decoder.feed(data)]
    return events + decoder.close()


def frame(events: list[dict], newline: bytes = b"\r\n") -> bytes:
    return b"".join(b"data: " + json.dumps(e).encode() + newline * 2 for e in events)


EVENTS = [{"candidates": [{"content": {"parts": [{"text": f"part {i}"}]}}]} for i in range(5)]


@pytest.mark.parametrize("newline", [b"\r\n", b"\n"])
def test_one_read(newline: bytes) -> None:
    assert decode([frame(EVENTS, newline)]) == EVENTS


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64])
def test_any_split_of_the_bytes(size: int) -> None:
    raw = frame(EVENTS)
    assert decode([raw[i : i + size] for i in range(0, len(raw), size)]) == EVENTS


def test_events_are_parsed_one_at_a_time() -> None:
    """The caller may act on the first event (send it) before the rest of the read is parsed,
    then come back for the others; a new read continues where the last left off."""
    decoder = GeminiEventDecoder()
    raw = frame(EVENTS)
    cut = len(raw) - 10
    events = decoder.feed(raw[:cut])
    assert next(events) == EVENTS[0]
    assert list(events) == EVENTS[1:4]
    assert list(decoder.feed(raw[cut:])) == [EVENTS[4]]
    assert decoder.close() == []


def test_a_consumer_that_stops_mid_read_leaves_close_only_the_unfinished_event() -> None:
    """A consumer may stop in the middle of a read (an error event ends its stream): the events it
    did not take are dropped, and ``close`` still returns only what no blank line ended."""
    decoder = GeminiEventDecoder()
    events = decoder.feed(frame(EVENTS[:3]) + b'data: {"last": 1}')
    assert next(events) == EVENTS[0]
    assert decoder.close() == [{"last": 1}]


def test_a_read_is_taken_even_if_its_events_are_not_asked_for() -> None:
    decoder = GeminiEventDecoder()
    raw = frame(EVENTS[:2])
    decoder.feed(raw[:-20])  # its complete event is not wanted; the start of the next one is kept
    assert list(decoder.feed(raw[-20:])) == [EVENTS[1]]


def test_comments_fields_and_data_without_space() -> None:
    raw = b': keep-alive\r\n\r\nevent: message\r\nid: 7\r\ndata:{"a": 1}\r\n\r\ndata: {"b": 2}\r\n\r\n'
    assert decode([raw]) == [{"a": 1}, {"b": 2}]


def test_multi_line_data_is_joined() -> None:
    assert decode([b'data: {"a":\ndata: 1}\n\n']) == [{"a": 1}]


def test_last_event_without_blank_line_and_bare_error() -> None:
    assert decode([b'data: {"a": 1}']) == [{"a": 1}]
    error = {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}
    assert decode([frame(EVENTS[:1]), json.dumps([error], indent=2).encode()]) == [EVENTS[0], error]


def test_not_json_is_skipped() -> None:
    assert decode([b"data: {not json\r\n\r\n" + frame(EVENTS[:1])]) == EVENTS[:1]


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_recorded_streams(path) -> None:  # type: ignore[no-untyped-def]
    raw = path.read_bytes()
    expected = load_stream(path.name)
    bare = raw.rfind(b"\n\n{")
    if bare >= 0:  # Vertex's mid-stream failure: a bare JSON error after the data events
        expected.append(json.loads(raw[bare:]))
    assert decode([raw]) == expected
    assert decode([raw[i : i + 5] for i in range(0, len(raw), 5)]) == expected

"""Stream framing: SSE (``?alt=sse``) and the incrementally streamed JSON array."""

from __future__ import annotations

import json
from typing import Any

import orjson

from gemini_proxy.simulator.errors import SimError

_COMPACT = json.JSONEncoder(separators=(",", ": "), ensure_ascii=False)


class ConnectionCut(Exception):
    """Raised inside the ASGI app to drop a stream's connection without a proper end."""


def compact(obj: Any) -> bytes:
    """Google's one-line JSON: ``": "`` after keys, ``,`` without a space (as in the SSE fixtures)."""
    return _COMPACT.encode(obj).encode()


def pretty(obj: Any) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_INDENT_2)


class SseFramer:
    content_type = b"text/event-stream"

    def chunk(self, obj: dict[str, Any], index: int) -> bytes:
        return b"data: " + compact(obj) + b"\r\n\r\n"

    def error(self, err: SimError, index: int) -> bytes:
        """A mid-stream error: a bare pretty-printed error object (as Vertex does; python-genai parses it)."""
        return err.body()

    def end(self, count: int) -> bytes:
        return b""


class ArrayFramer:
    content_type = b"application/json; charset=UTF-8"

    def chunk(self, obj: dict[str, Any], index: int) -> bytes:
        return (b"[" if index == 0 else b"\n,\r\n") + pretty(obj)

    def error(self, err: SimError, index: int) -> bytes:
        return (b"[" if index == 0 else b"\n,\r\n") + pretty(err.payload())

    def end(self, count: int) -> bytes:
        return b"\n]" if count else b"[]"

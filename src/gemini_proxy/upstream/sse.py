"""Decoding of Gemini's ``streamGenerateContent?alt=sse`` bodies into parsed chunks.

Google frames events as ``data: <json>\\r\\n\\r\\n`` (LF-only framing is accepted too). A failure
after the first byte may arrive as a bare JSON error object without ``data:`` (seen on Vertex);
it is returned as a parsed ``{"error": ...}`` dict like any other event; ``check_event`` turns
such an event into the ``UpstreamStatusError`` it stands for.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from gemini_proxy.errors import UpstreamStatusError


class GeminiEventDecoder:
    """Feed bytes as they arrive; get back the complete events they finish."""

    __slots__ = ("_buffer", "_bare")

    def __init__(self) -> None:
        self._buffer = b""
        self._bare = b""

    def feed(self, data: bytes) -> Iterator[dict[str, Any]]:
        """The events ``data`` completes, each parsed only when the caller asks for it: the first
        can be translated and sent before the rest of a read is even parsed. The bytes are taken
        at once, as a list would be: an unfinished event waits for the next read whether or not
        the caller iterates, and the events of a read it stops asking for are dropped."""
        buffer = self._buffer + data if self._buffer else data
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n")
        blocks = buffer.split(b"\n\n")
        self._buffer = blocks.pop()
        return self._parse(blocks)

    def _parse(self, blocks: list[bytes]) -> Iterator[dict[str, Any]]:
        for block in blocks:
            if block.startswith(b"data: ") and b"\n" not in block:  # the usual event: one data line
                parsed = _loads(block[6:])
                if isinstance(parsed, dict):
                    yield parsed
                continue
            events: list[dict[str, Any]] = []
            self._decode_block(block, events)
            yield from events

    def close(self) -> list[dict[str, Any]]:
        """Events left when the stream ends: a last event without its blank line, or a bare error."""
        events: list[dict[str, Any]] = []
        if self._buffer.strip():
            self._decode_block(self._buffer, events)
        self._buffer = b""
        if self._bare.strip():
            parsed = _loads(self._bare)
            if isinstance(parsed, list) and parsed:
                parsed = parsed[0]
            if isinstance(parsed, dict):
                events.append(parsed)
        self._bare = b""
        return events

    def _decode_block(self, block: bytes, events: list[dict[str, Any]]) -> None:
        data_lines: list[bytes] = []
        for line in block.split(b"\n"):
            if line.startswith(b"data:"):
                data_lines.append(line[6:] if line[5:6] == b" " else line[5:])
            elif line.strip() and not line.startswith((b":", b"event:", b"id:", b"retry:")):
                self._bare += line + b"\n"
        if data_lines:
            parsed = _loads(b"\n".join(data_lines))
            if isinstance(parsed, dict):
                events.append(parsed)
        elif self._bare:
            parsed = _loads(self._bare)
            if isinstance(parsed, dict):
                events.append(parsed)
                self._bare = b""


def check_event(event: dict[str, Any]) -> dict[str, Any]:
    """``event`` as it is, unless it is Google's error in the stream (an ``error`` without
    ``candidates``): then the ``UpstreamStatusError`` it carries (its ``code``, else 502)."""
    if "error" in event and "candidates" not in event:
        error = event["error"] if isinstance(event["error"], dict) else {}
        code = error.get("code")
        raise UpstreamStatusError(code if isinstance(code, int) and 400 <= code < 600 else 502, event)
    return event


def _loads(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None

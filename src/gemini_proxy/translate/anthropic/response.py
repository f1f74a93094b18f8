"""Gemini ``GenerateContentResponse`` -> Anthropic ``message``.

Built by running the stream translator over the one response (server-tool blocks first) and
collecting its events, so a unary answer and a stream of the same Gemini output have the same
blocks. ``tool_use.input`` is the call's parsed ``args``; see ``stream.py`` for the blocks and
``outcome.py`` for ``stop_reason`` and ``usage``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from .stream import MessageStreamTranslator
from .types import MessagesCall


def to_message(resp: object, *, call: MessagesCall, message_id: str, new_id: Callable[[str], str]) -> dict[str, Any]:
    """``new_id(prefix)`` makes block ids (``toolu_``, ``srvtoolu_``)."""
    machine = MessageStreamTranslator(call, message_id=message_id, new_id=new_id, grounding_first=True)
    events = machine.feed(resp if isinstance(resp, dict) else {}) + machine.finish()
    message: dict[str, Any] = {}
    content: list[dict[str, Any]] = []
    json_parts: list[str] = []
    for _, data in events:
        kind = data["type"]
        if kind == "message_start":
            message = data["message"]
        elif kind == "content_block_start":
            content.append(dict(data["content_block"]))
            json_parts = []
        elif kind == "content_block_delta":
            delta, block = data["delta"], content[-1]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                block["signature"] = delta["signature"]
            elif delta["type"] == "citations_delta":
                block.setdefault("citations", []).append(delta["citation"])
            else:
                json_parts.append(delta["partial_json"])
        elif kind == "content_block_stop" and json_parts:
            content[-1]["input"] = orjson.loads("".join(json_parts))
            json_parts = []
        elif kind == "message_delta":
            message.update(data["delta"])
            message["usage"] = data["usage"]
    message["content"] = content
    return message

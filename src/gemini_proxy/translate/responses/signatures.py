"""Gemini thought signatures carried in a reasoning item's ``encrypted_content``.

Gemini 3 validates the thought signature of the first function call of every model turn in the
history; a client that keeps no server state (``store: false``, as Codex) must therefore carry
the signatures itself. OpenAI's answer to the same problem is the reasoning item's opaque
``encrypted_content``, which such clients already send back. Ours is::

    "gp1." + base64url(JSON {"v": 1, "calls": {call_id: signature, ...}, "text": signature | null})

without padding. ``calls`` are the signatures of the turn's function calls, keyed by the
``call_id`` the response gave them (so the order the client sends items back in does not matter);
``text`` is a signature Gemini put on a text part of the turn (Gemini 3 does), which goes back on
the last text part of the same model turn. The content is not secret (Google's signatures are
already opaque) and is not thought text. Anything else in ``encrypted_content`` -- OpenAI's own,
from a conversation started elsewhere -- is ignored; ours when damaged is a 400.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

import orjson

from gemini_proxy.errors import InvalidRequest

PREFIX = "gp1."
VERSION = 1


@dataclass(slots=True)
class TurnSignatures:
    calls: dict[str, str] = field(default_factory=dict)
    text: str | None = None

    def __bool__(self) -> bool:
        return bool(self.calls) or self.text is not None


def encode(sigs: TurnSignatures) -> str:
    doc = {"v": VERSION, "calls": sigs.calls, "text": sigs.text}
    return PREFIX + base64.urlsafe_b64encode(orjson.dumps(doc)).decode().rstrip("=")


def decode(value: object, param: str) -> TurnSignatures | None:
    """Signatures in one ``encrypted_content``; None when it is not ours (or empty)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest("encrypted_content must be a string", param=param)
    if not value.startswith(PREFIX):
        return None
    raw = value[len(PREFIX) :]
    try:
        doc = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError):
        raise InvalidRequest("encrypted_content is damaged (not the value this proxy returned)", param=param) from None
    if not isinstance(doc, dict) or doc.get("v") != VERSION:
        raise InvalidRequest("encrypted_content has an unknown version", param=param)
    calls, text = doc.get("calls"), doc.get("text")
    if (
        not isinstance(calls, dict)
        or not all(isinstance(k, str) and isinstance(v, str) and v for k, v in calls.items())
        or not (text is None or (isinstance(text, str) and text))
    ):
        raise InvalidRequest("encrypted_content is damaged (not the value this proxy returned)", param=param)
    return TurnSignatures(dict(calls), text)

"""Scenario files: replies per turn, chosen by conversation position or by a pattern (docs/simulator.md).

A scenario is a JSON object ``{"turns": [ENTRY, ...]}``. Each ENTRY has a ``match`` (all of its keys
must hold; an empty or missing match always holds) and a reply:

- match: ``request`` (the n-th generate request since the scenario was set, 1-based),
  ``model_turns`` (how many model contents the history holds), ``contains`` (a substring of the last
  user text) and/or ``regex`` (searched in the last user text);
- reply: ``text``, ``functionCalls`` (``[{"name", "args"}]``), ``thoughts`` (texts), ``finishReason``,
  ``usage`` (usageMetadata fields that replace the computed ones), or ``error``
  (``{"status": 429, "body": {"error": {...}}}``: answered as it is written).

The first entry that matches is the reply; when none does the simulator answers as usual.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

import orjson

from gemini_proxy.simulator import errors

MAX_BYTES = 1 << 20
MAX_ENTRIES = 1000
MAX_PATTERN = 1000
MATCH_KEYS = ("request", "model_turns", "contains", "regex")
REPLY_KEYS = ("text", "functionCalls", "thoughts", "finishReason", "usage", "error")
FINISH_REASONS = ("STOP", "MAX_TOKENS", "SAFETY", "RECITATION", "LANGUAGE", "OTHER", "BLOCKLIST",
                  "PROHIBITED_CONTENT", "SPII", "MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL")


class ScriptedError(errors.SimError):
    """An error reply of a scenario: its body is answered exactly as the scenario gives it."""

    def __init__(self, code: int, body: dict[str, Any]) -> None:
        found = body.get("error")
        err: dict[str, Any] = found if isinstance(found, dict) else {}
        super().__init__(code, str(err.get("message", "")), status=err.get("status"))
        self._payload = body

    def payload(self) -> dict[str, Any]:
        return self._payload


@dataclass
class Reply:
    text: str | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)
    thoughts: list[str] = field(default_factory=list)
    finish: str | None = None
    usage: dict[str, Any] | None = None
    error: tuple[int, dict[str, Any]] | None = None


@dataclass
class Entry:
    request: int | None
    model_turns: int | None
    contains: str | None
    regex: re.Pattern[str] | None
    reply: Reply

    def matches(self, serial: int, model_turns: int, text: str) -> bool:
        return ((self.request is None or self.request == serial)
                and (self.model_turns is None or self.model_turns == model_turns)
                and (self.contains is None or self.contains in text)
                and (self.regex is None or self.regex.search(text) is not None))


class Scenario:
    def __init__(self, entries: list[Entry], source: dict[str, Any]) -> None:
        self.entries = entries
        self.source = source
        self.served = 0
        self._lock = threading.Lock()

    def next_reply(self, contents: list[dict[str, Any]], last_text: str) -> Reply | None:
        with self._lock:
            self.served += 1
            serial = self.served
        model_turns = sum(1 for c in contents if c.get("role") == "model")
        for entry in self.entries:
            if entry.matches(serial, model_turns, last_text):
                return entry.reply
        return None

    def to_json(self) -> dict[str, Any]:
        return {"requests_seen": self.served, "entries": len(self.entries), **self.source}


def _int(where: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{where} must be an integer >= {minimum}, got {value!r}")
    return value


def _reply(where: str, item: dict[str, Any]) -> Reply:
    out = Reply()
    if "text" in item:
        if not isinstance(item["text"], str):
            raise ValueError(f"{where}.text must be a string")
        out.text = item["text"]
    calls = item.get("functionCalls", [])
    if not isinstance(calls, list):
        raise ValueError(f"{where}.functionCalls must be a list")
    for j, call in enumerate(calls):
        if not (isinstance(call, dict) and isinstance(call.get("name"), str) and call["name"]):
            raise ValueError(f"{where}.functionCalls[{j}] must be an object with a name")
        args = call.get("args", {})
        if not isinstance(args, dict):
            raise ValueError(f"{where}.functionCalls[{j}].args must be an object")
        out.calls.append({"name": call["name"], "args": args})
    thoughts = item.get("thoughts", [])
    if not (isinstance(thoughts, list) and all(isinstance(t, str) for t in thoughts)):
        raise ValueError(f"{where}.thoughts must be a list of strings")
    out.thoughts = list(thoughts)
    if "finishReason" in item:
        if item["finishReason"] not in FINISH_REASONS:
            raise ValueError(f"{where}.finishReason must be one of {', '.join(FINISH_REASONS)}")
        out.finish = item["finishReason"]
    if "usage" in item:
        usage = item["usage"]
        if not (isinstance(usage, dict) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                                                for v in usage.values())):
            raise ValueError(f"{where}.usage must be an object of token counts (integers >= 0)")
        out.usage = dict(usage)
    if "error" in item:
        err = item["error"]
        if not isinstance(err, dict):
            raise ValueError(f"{where}.error must be an object with status and body")
        status = _int(f"{where}.error.status", err.get("status"), 400)
        if status > 599:
            raise ValueError(f"{where}.error.status must be between 400 and 599")
        body = err.get("body")
        if body is None:
            body = errors.from_status(status).payload()
        if not isinstance(body, dict):
            raise ValueError(f"{where}.error.body must be a JSON object (Google's {{\"error\": {{...}}}})")
        out.error = (status, body)
    if out.text is None and not out.calls and out.error is None and out.finish is None:
        raise ValueError(f"{where} needs text, functionCalls, error or finishReason")
    return out


def load(source: Any) -> Scenario:
    """A Scenario from JSON bytes/str or a parsed object; ValueError naming what is wrong."""
    if isinstance(source, (bytes, str)):
        raw = source.encode() if isinstance(source, str) else source
        if len(raw) > MAX_BYTES:
            raise ValueError(f"a scenario is at most {MAX_BYTES} bytes, got {len(raw)}")
        try:
            source = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"the scenario is not valid JSON: {exc}") from None
    elif len(orjson.dumps(source)) > MAX_BYTES:
        raise ValueError(f"a scenario is at most {MAX_BYTES} bytes")
    if not isinstance(source, dict) or not isinstance(source.get("turns"), list):
        raise ValueError('a scenario is an object {"turns": [...]}')
    turns = source["turns"]
    if len(turns) > MAX_ENTRIES:
        raise ValueError(f"a scenario holds at most {MAX_ENTRIES} turns, got {len(turns)}")
    entries = []
    for i, item in enumerate(turns):
        where = f"turns[{i}]"
        if not isinstance(item, dict):
            raise ValueError(f"{where} must be an object")
        unknown = sorted(set(item) - set(REPLY_KEYS) - {"match"})
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)}; known: match, {', '.join(REPLY_KEYS)}")
        match = item.get("match") or {}
        if not isinstance(match, dict) or set(match) - set(MATCH_KEYS):
            raise ValueError(f"{where}.match must be an object with {', '.join(MATCH_KEYS)}")
        regex = None
        if "regex" in match:
            if not isinstance(match["regex"], str) or len(match["regex"]) > MAX_PATTERN:
                raise ValueError(f"{where}.match.regex must be a string of at most {MAX_PATTERN} characters")
            try:
                regex = re.compile(match["regex"])
            except re.error as exc:
                raise ValueError(f"{where}.match.regex is not a valid regular expression: {exc}") from None
        contains = match.get("contains")
        if contains is not None and not isinstance(contains, str):
            raise ValueError(f"{where}.match.contains must be a string")
        entries.append(Entry(
            request=_int(f"{where}.match.request", match["request"], 1) if "request" in match else None,
            model_turns=_int(f"{where}.match.model_turns", match["model_turns"], 0) if "model_turns" in match else None,
            contains=contains, regex=regex, reply=_reply(where, item)))
    return Scenario(entries, source)

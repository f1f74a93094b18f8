"""Structured logs: one JSON object per line, extra fields kept, uvicorn's coloured copy dropped."""

from __future__ import annotations

import json
import logging

from gemini_proxy.observability import JsonFormatter


def test_json_lines() -> None:
    record = logging.LogRecord("gemini_proxy", logging.WARNING, "x.py", 1, "key %s cooling", ("abc...1234",), None)
    record.model = "gemini-2.5-flash"
    record.color_message = "\x1b[36mkey %s cooling\x1b[0m"
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert "\n" not in line
    assert entry["level"] == "warning" and entry["logger"] == "gemini_proxy"
    assert entry["message"] == "key abc...1234 cooling" and entry["model"] == "gemini-2.5-flash"
    assert "color_message" not in entry and entry["time"].endswith("Z")

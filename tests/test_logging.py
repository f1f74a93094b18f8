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


def test_credentials_in_query_strings_are_redacted() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, "x.py", 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/v1beta/models?pageSize=5&key=tok-alice&x=1", "1.1", 200), None,
    )
    record.url = "/v1beta/models?ACCESS_TOKEN=tok-bob"
    entry = json.loads(JsonFormatter().format(record))
    assert "tok-alice" not in entry["message"] and "/v1beta/models?pageSize=5&key=***&x=1" in entry["message"]
    assert entry["url"] == "/v1beta/models?ACCESS_TOKEN=***"


def test_the_access_log_never_shows_a_token(simulator, tmp_path) -> None:
    # A Google client's ?key= is its client token here: logged as ***, end to end through uvicorn.
    import httpx

    from tests.servers import start_proxy

    proxy = start_proxy(
        simulator.url, env={"GEMINI_PROXY_AUTH_TOKENS": "tok-alice", "GEMINI_PROXY_ACCESS_LOG": "true"}
    )
    try:
        assert httpx.get(proxy.url + "/v1beta/models?key=tok-alice").status_code == 200
        assert httpx.get(proxy.url + "/v1beta/models?pageSize=2&key=tok-alice").status_code == 200
    finally:
        proxy.stop()
    log = proxy.log()
    assert "/v1beta/models?key=***" in log and "pageSize=2&key=***" in log
    assert "tok-alice" not in log

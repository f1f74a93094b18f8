"""ProxyError -> Anthropic errors by status; Claude names through the model table; the wire bytes."""

from __future__ import annotations

from typing import Any

import pytest

from gemini_proxy.errors import (
    AuthenticationError,
    InvalidRequest,
    NoKeyAvailable,
    NotFound,
    PayloadTooLarge,
    ProxyError,
    UpstreamStatusError,
    UpstreamUnavailable,
)
from gemini_proxy.translate.anthropic import (
    DEFAULT_CLAUDE_MODELS,
    PING,
    encode_event,
    error_event,
    error_to_anthropic,
    resolve_anthropic_model,
)

from .helpers import assert_error


def google(code: int, status: str, message: str, *details: dict[str, Any]) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status, "details": list(details)}}


RETRY = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.2s"}
ROWS: list[tuple[str, ProxyError, int, str, dict[str, str]]] = [
    ("bad field", InvalidRequest("must be a string", param="messages[1].content"), 400, "invalid_request_error", {}),
    ("Gemini 400", UpstreamStatusError(400, google(400, "INVALID_ARGUMENT", "bad")), 400, "invalid_request_error", {}),
    ("client token", AuthenticationError("no token"), 401, "authentication_error", {}),
    ("Gemini 403", UpstreamStatusError(403, google(403, "PERMISSION_DENIED", "no")), 403, "permission_error", {}),
    ("not found", NotFound("no model"), 404, "not_found_error", {}),
    ("too large", PayloadTooLarge("too big", param="body"), 413, "request_too_large", {}),
    ("pool spent", NoKeyAvailable("later", retry_after=2.5), 429, "rate_limit_error", {"retry-after": "3"}),
    ("Gemini 429", UpstreamStatusError(429, google(429, "RESOURCE_EXHAUSTED", "quota", RETRY)), 429,
     "rate_limit_error", {"retry-after": "2"}),
    ("Gemini 500", UpstreamStatusError(500, google(500, "INTERNAL", "oops")), 502, "api_error", {}),
    ("Gemini 503 overloaded", UpstreamStatusError(503, google(503, "UNAVAILABLE", "The model is overloaded.")), 529,
     "overloaded_error", {}),
    ("Gemini 504", UpstreamStatusError(504, google(504, "DEADLINE_EXCEEDED", "slow")), 504, "timeout_error", {}),
    ("unreachable", UpstreamUnavailable("down"), 502, "api_error", {}),
    ("a bug", ProxyError("Internal error in gemini-proxy."), 500, "api_error", {}),
]  # fmt: skip


@pytest.mark.parametrize(("exc", "status", "kind", "headers"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_error_mapping(exc: ProxyError, status: int, kind: str, headers: dict[str, str]) -> None:
    got_status, body, got_headers = error_to_anthropic(exc)
    assert (got_status, body["error"]["type"], got_headers) == (status, kind, headers)
    assert body["type"] == "error"
    if kind != "request_too_large":  # Anthropic's documented 413 type; the SDK's union does not list it
        assert_error(body)


def test_bad_field_message_names_it_the_anthropic_way() -> None:
    body = error_to_anthropic(InvalidRequest("must be a string", param="messages[1].content[0].text"))[1]
    assert body["error"]["message"] == "messages.1.content.0.text: must be a string"


def test_keys_are_scrubbed() -> None:
    exc = UpstreamStatusError(400, google(400, "INVALID_ARGUMENT", "bad key AIzaFAKEFAKEFAKEFAKE1234 in ?key=abc"))
    assert "FAKEFAKE" not in error_to_anthropic(exc)[1]["error"]["message"]


MODELS = [
    ("claude-opus-4-8", "gemini-2.5-pro"),
    ("claude-sonnet-4-5-20250929", "gemini-2.5-flash"),
    ("claude-3-5-haiku-latest", "gemini-2.5-flash-lite"),
    ("claude-haiku-4-5@20251001", "gemini-2.5-flash-lite"),
    ("anthropic/claude-sonnet-4-6", "gemini-2.5-flash"),
    ("gemini-3-flash-preview", "gemini-3-flash-preview"),
    ("models/gemini-2.5-pro", "gemini-2.5-pro"),
    ("fast", "gemini-2.5-flash-lite"),
]


@pytest.mark.parametrize(("name", "expected"), MODELS)
def test_model_names(name: str, expected: str) -> None:
    aliases = {"fast": "gemini-2.5-flash-lite"}
    assert resolve_anthropic_model(name, claude_models=DEFAULT_CLAUDE_MODELS, aliases=aliases) == expected


def test_full_name_beats_class_word() -> None:
    table = {"sonnet": "gemini-2.5-flash", "claude-sonnet-4-5": "gemini-3-flash-preview"}
    assert resolve_anthropic_model("claude-sonnet-4-5", claude_models=table, aliases={}) == "gemini-3-flash-preview"
    assert resolve_anthropic_model("claude-sonnet-4-6", claude_models=table, aliases={}) == "gemini-2.5-flash"
    with pytest.raises(NotFound):
        resolve_anthropic_model("claude-opus-4-8", claude_models=table, aliases={})


def test_wire_bytes() -> None:
    assert encode_event(("message_stop", {"type": "message_stop"})) == (
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )
    assert PING == b'event: ping\ndata: {"type":"ping"}\n\n'
    name, data = error_event(UpstreamStatusError(503, google(503, "UNAVAILABLE", "The model is overloaded.")))
    assert name == "error" and data["error"]["type"] == "overloaded_error"
    assert_error(data)

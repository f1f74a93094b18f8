"""ProxyError -> OpenAI error objects: every known Gemini status maps to a specific OpenAI error."""

from __future__ import annotations

from typing import Any

import pytest

from gemini_proxy.errors import (
    InvalidRequest,
    NoKeyAvailable,
    NotFound,
    PermissionDenied,
    ProxyError,
    UpstreamStatusError,
    UpstreamUnavailable,
)
from gemini_proxy.translate import error_to_openai, scrub

from .helpers import assert_valid, load_json


def google(code: int, status: str, message: str, *details: dict[str, Any]) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = list(details)
    return {"error": error}


RETRY = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.2s"}

# (id, exception, status, type, code, headers, message fragment)
ROWS: list[tuple[str, ProxyError, int, str, str | None, dict[str, str], str]] = [
    (
        "400 invalid argument keeps Google's message",
        UpstreamStatusError(400, google(400, "INVALID_ARGUMENT", "Function call is missing a thought_signature")),
        400,
        "invalid_request_error",
        None,
        {},
        "missing a thought_signature",
    ),
    (
        "400 failed precondition",
        UpstreamStatusError(400, google(400, "FAILED_PRECONDITION", "User location is not supported for the API use.")),
        400,
        "invalid_request_error",
        None,
        {},
        "User location",
    ),
    (
        "400 API_KEY_INVALID is the proxy's fault",
        UpstreamStatusError(400, load_json("fb-err-400-api-key-invalid.json")),
        502,
        "api_error",
        "upstream_key_invalid",
        {},
        "API key",
    ),
    (
        "401",
        UpstreamStatusError(401, google(401, "UNAUTHENTICATED", "Request had invalid credentials.")),
        401,
        "authentication_error",
        "upstream_unauthenticated",
        {},
        "invalid credentials",
    ),
    (
        "403 service disabled",
        UpstreamStatusError(403, load_json("fb-err-403-service-disabled.json")),
        403,
        "permission_error",
        "upstream_permission_denied",
        {},
        "Generative Language API has not been used",
    ),
    (
        "404 unknown model",
        UpstreamStatusError(404, load_json("fb-err-404-unknown-model.json")),
        404,
        "invalid_request_error",
        "model_not_found",
        {},
        "models/gemini-5.0-flash is not found",
    ),
    (
        "404 count tokens",
        UpstreamStatusError(404, load_json("pai-err-404-count-tokens.json")),
        404,
        "invalid_request_error",
        "model_not_found",
        {},
        "nonexistent-model",
    ),
    (
        "404 other",
        UpstreamStatusError(404, google(404, "NOT_FOUND", "cachedContents/x not found")),
        404,
        "invalid_request_error",
        "not_found",
        {},
        "cachedContents/x",
    ),
    (
        "429 with RetryInfo",
        UpstreamStatusError(429, load_json("err-429-quota-retryinfo.json")),
        429,
        "rate_limit_error",
        "rate_limit_exceeded",
        {"Retry-After": "58"},
        "You exceeded your current quota",
    ),
    (
        "429 fractional RetryInfo rounds up",
        UpstreamStatusError(429, google(429, "RESOURCE_EXHAUSTED", "slow", RETRY)),
        429,
        "rate_limit_error",
        "rate_limit_exceeded",
        {"Retry-After": "2"},
        "slow",
    ),
    (
        "429 without RetryInfo uses Google's header",
        UpstreamStatusError(429, google(429, "RESOURCE_EXHAUSTED", "slow"), headers={"retry-after": "7"}),
        429,
        "rate_limit_error",
        "rate_limit_exceeded",
        {"Retry-After": "7"},
        "slow",
    ),
    (
        "429 RetryInfo in milliseconds",
        UpstreamStatusError(429, google(429, "RESOURCE_EXHAUSTED", "slow", {**RETRY, "retryDelay": "500ms"})),
        429,
        "rate_limit_error",
        "rate_limit_exceeded",
        {"Retry-After": "1"},
        "slow",
    ),
    (
        "429 RetryInfo as a proto3 object",
        UpstreamStatusError(429, google(429, "RESOURCE_EXHAUSTED", "slow", {**RETRY, "retryDelay": {"seconds": 3}})),
        429,
        "rate_limit_error",
        "rate_limit_exceeded",
        {"Retry-After": "3"},
        "slow",
    ),
    (
        "429 delay only in the message",
        UpstreamStatusError(429, google(429, "RESOURCE_EXHAUSTED", "Quota exceeded. Please retry in 12.5s.")),
        429,
        "rate_limit_error",
        "rate_limit_exceeded",
        {"Retry-After": "13"},
        "retry in",
    ),
    (
        "500 -> 502",
        UpstreamStatusError(500, google(500, "INTERNAL", "An internal error has occurred.")),
        502,
        "api_error",
        "upstream_error",
        {},
        "internal error",
    ),
    (
        "503 overloaded",
        UpstreamStatusError(503, load_json("err-503-overloaded-jsonarray.json")[0]),
        503,
        "api_error",
        "upstream_unavailable",
        {},
        "overloaded",
    ),
    (
        "504",
        UpstreamStatusError(504, google(504, "DEADLINE_EXCEEDED", "Deadline exceeded")),
        504,
        "api_error",
        "upstream_timeout",
        {},
        "Deadline",
    ),
    (
        "499 cancelled mid-stream",
        UpstreamStatusError(499, google(499, "CANCELLED", "The operation was cancelled.")),
        502,
        "api_error",
        "upstream_error",
        {},
        "cancelled",
    ),
    ("unparseable body", UpstreamStatusError(502, {}), 502, "api_error", "upstream_error", {}, "HTTP 502"),
    (
        "no key available",
        NoKeyAvailable("all keys cooling down", retry_after=12.2),
        429,
        "rate_limit_error",
        "rate_limit_exceeded",
        {"Retry-After": "13"},
        "cooling",
    ),
    ("upstream unreachable", UpstreamUnavailable("timed out"), 502, "api_error", "upstream_unavailable", {}, "timed"),
    ("invalid request", InvalidRequest("bad n", param="n"), 400, "invalid_request_error", None, {}, "bad n"),
    ("not found", NotFound("no such model"), 404, "invalid_request_error", "not_found", {}, "no such"),
    ("permission", PermissionDenied("nope"), 403, "permission_error", None, {}, "nope"),
]


@pytest.mark.parametrize(
    ("exc", "status", "type_", "code", "headers", "fragment"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS]
)
def test_error_map(
    exc: ProxyError, status: int, type_: str, code: str | None, headers: dict[str, str], fragment: str
) -> None:
    got_status, body, got_headers = error_to_openai(exc)
    assert_valid("ErrorResponse", body)
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert (got_status, body["error"]["type"], body["error"]["code"], got_headers) == (status, type_, code, headers)
    assert fragment.lower() in body["error"]["message"].lower()


FAKE_KEY = "AIza" + "Sy" + "X" * 33


@pytest.mark.parametrize(
    "message",
    [
        f"Invalid API key {FAKE_KEY} for project",
        f"GET https://generativelanguage.googleapis.com/v1beta/models?key={FAKE_KEY}&pageSize=5 failed",
        "call ...?alt=sse&key=secret-value-123 failed",
    ],
)
def test_keys_never_leak(message: str) -> None:
    for exc in (UpstreamStatusError(400, google(400, "INVALID_ARGUMENT", message)), UpstreamUnavailable(message)):
        _, body, _ = error_to_openai(exc)
        assert FAKE_KEY not in body["error"]["message"] and "secret-value-123" not in body["error"]["message"]
        assert "AIza***" in body["error"]["message"] or "key=***" in body["error"]["message"]


def test_scrub_leaves_ordinary_text() -> None:
    assert (
        scrub("The model is overloaded. Please try again later.") == "The model is overloaded. Please try again later."
    )

"""Google's error body read once (``parse_google_error``), and what every surface makes of it.

Each delay form Google (or a front end in between) writes is a row: the value's ``retry_delay``,
and the ``Retry-After`` of the client's 429 on the OpenAI, simple and native surfaces.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gemini_proxy.api.common import render_google, render_simple
from gemini_proxy.errors import UpstreamStatusError
from gemini_proxy.translate import error_to_openai
from gemini_proxy.upstream.google_error import GoogleError, parse_google_error
from gemini_proxy.upstream.quota import RateLimited, outcome_of
from tests.fixtures import GEMINI_FIXTURES as FIXTURES

RPC = "type.googleapis.com/google.rpc."


def quota_body(*details: dict[str, Any], message: str = "You exceeded your current quota.") -> dict[str, Any]:
    return {"error": {"code": 429, "message": message, "status": "RESOURCE_EXHAUSTED", "details": list(details)}}


def retry_info(delay: object) -> dict[str, Any]:
    return {"@type": RPC + "RetryInfo", "retryDelay": delay}


def quota_failure(*ids: str) -> dict[str, Any]:
    return {"@type": RPC + "QuotaFailure", "violations": [{"quotaId": q} for q in ids]}


# (id, body, headers, retry_delay in seconds, Retry-After the client sees)
DELAYS: list[tuple[str, dict[str, Any], dict[str, str], float | None, str | None]] = [
    ("whole seconds", quota_body(retry_info("3s")), {}, 3.0, "3"),
    ("fractional seconds", quota_body(retry_info("1.5s")), {}, 1.5, "2"),
    ("milliseconds", quota_body(retry_info("500ms")), {}, 0.5, "1"),
    ("proto3 object", quota_body(retry_info({"seconds": 3})), {}, 3.0, "3"),
    ("proto3 object with nanos", quota_body(retry_info({"seconds": 3, "nanos": 250_000_000})), {}, 3.25, "4"),
    ("message only", quota_body(message="Quota exceeded. Please retry in 12.5s."), {}, 12.5, "13"),
    ("message in ms", quota_body(message="Please retry in 800ms."), {}, 0.8, "1"),
    ("Google's header", quota_body(), {"Retry-After": "7"}, 7.0, "7"),
    ("RetryInfo wins over the message", quota_body(retry_info("2s"), message="Please retry in 9s."), {}, 2.0, "2"),
    ("nothing", quota_body(), {}, None, None),
    ("unreadable RetryInfo falls back to the message",
     quota_body(retry_info("soon"), message="Please retry in 4s."), {}, 4.0, "4"),
]


@pytest.mark.parametrize(
    ("body", "headers", "delay", "retry_after"), [d[1:] for d in DELAYS], ids=[d[0] for d in DELAYS]
)
def test_retry_delay_forms(
    body: dict[str, Any], headers: dict[str, str], delay: float | None, retry_after: str | None
) -> None:
    error = UpstreamStatusError(429, body, raw=orjson.dumps(body), headers=headers)
    assert error.google.retry_delay == (pytest.approx(delay) if delay is not None else None)
    assert isinstance(outcome_of(error.google), RateLimited)
    assert outcome_of(error.google).retry_after == error.google.retry_delay  # type: ignore[union-attr]

    status, _, openai_headers = error_to_openai(error)
    assert status == 429 and openai_headers.get("Retry-After") == retry_after
    simple = render_simple(error)
    assert simple.status_code == 429 and simple.headers.get("retry-after") == retry_after
    native = render_google(error)
    assert native.status_code == 429 and native.body == error.raw  # Google's body as Google sent it
    expected_native = None if retry_after is None else str(max(1, int(retry_after)))
    assert native.headers.get("retry-after") == expected_native


def test_recorded_quota_error() -> None:
    body = orjson.loads((FIXTURES / "err-429-quota-retryinfo.json").read_bytes())
    google = parse_google_error(429, body)
    assert google.status == "RESOURCE_EXHAUSTED" and google.code == 429
    assert google.retry_delay == pytest.approx(58.0, abs=1.0)
    assert google.quota_ids and google.window in ("minute", "day")
    assert "exceeded your current quota" in google.message


@pytest.mark.parametrize(
    ("ids", "window"),
    [
        (("GenerateRequestsPerMinutePerProjectPerModel-FreeTier",), "minute"),
        (("GenerateRequestsPerDayPerProjectPerModel-FreeTier",), "day"),
        (("GenerateRequestsPerMinutePerProjectPerModel", "GenerateRequestsPerDayPerProjectPerModel"), "day"),
        ((), None),
    ],
)
def test_quota_window(ids: tuple[str, ...], window: str | None) -> None:
    google = parse_google_error(429, quota_body(quota_failure(*ids)) if ids else quota_body())
    assert google.quota_ids == ids and google.window == window and google.per_day == (window == "day")


def test_value_is_frozen_and_typed() -> None:
    body = {"error": {"code": 400, "message": "API key not valid.", "status": "INVALID_ARGUMENT",
                      "details": [{"@type": RPC + "ErrorInfo", "reason": "API_KEY_INVALID"}]}}
    google = parse_google_error(400, body)
    assert google == GoogleError(400, 400, "INVALID_ARGUMENT", "API key not valid.", ("API_KEY_INVALID",))
    assert google.reason == "API_KEY_INVALID"
    with pytest.raises(AttributeError):
        google.message = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    "body",
    [{}, [], None, "text", {"error": "x"}, {"error": {"details": "x", "code": True, "message": 5}},
     [{"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}]],
    ids=["empty", "empty array", "none", "string", "error not an object", "odd fields", "array-wrapped"],
)
def test_any_body_parses(body: object) -> None:
    google = parse_google_error(503, body)
    assert google.http_status == 503 and isinstance(google.message, str)
    if isinstance(body, list) and body:
        assert (google.code, google.status, google.message) == (503, "UNAVAILABLE", "overloaded")

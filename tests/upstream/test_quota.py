"""classify() over Google's real error bodies (+ array-wrapped forms) and synthetic ones."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gemini_proxy.upstream.quota import (
    ClientFault,
    InvalidKey,
    Outcome,
    RateLimited,
    Success,
    Transient,
    classify,
    next_pacific_midnight,
    pacific_day,
    parse_duration,
)
from tests.fixtures import GEMINI_FIXTURES as FIXTURES

LA = ZoneInfo("America/Los_Angeles")


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def err(code: int, status: str, message: str = "m", *details: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"error": {"code": code, "message": message, "status": status}}
    if details:
        body["error"]["details"] = list(details)
    return body


def retry(delay: str) -> dict[str, Any]:
    return {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}


def quota(*ids: str) -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [{"quotaId": q, "quotaMetric": "m", "quotaValue": "5"} for q in ids],
    }


def info(reason: str) -> dict[str, Any]:
    return {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "googleapis.com"}


PER_MIN = "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
PER_DAY = "GenerateRequestsPerDayPerProjectPerModel-FreeTier"

CASES: list[tuple[str, int, Any, Outcome]] = [
    ("fixture 429", 429, fixture("err-429-quota-retryinfo.json"), RateLimited(58.0, False, PER_MIN)),
    ("fixture 429 in array", 429, [fixture("err-429-quota-retryinfo.json")], RateLimited(58.0, False, PER_MIN)),
    ("fixture 400 key invalid", 400, fixture("fb-err-400-api-key-invalid.json"), InvalidKey("API_KEY_INVALID")),
    ("fixture 400 in array", 400, [fixture("fb-err-400-api-key-invalid.json")], InvalidKey("API_KEY_INVALID")),
    ("fixture 403 disabled", 403, fixture("fb-err-403-service-disabled.json"), InvalidKey("SERVICE_DISABLED")),
    ("fixture 503 array", 503, fixture("err-503-overloaded-jsonarray.json"), Transient("503 UNAVAILABLE")),
    ("fixture 404 model", 404, fixture("fb-err-404-unknown-model.json"), ClientFault()),
    ("fractional delay", 429, err(429, "RESOURCE_EXHAUSTED", "m", retry("1.203608125s")), RateLimited(1.203608125)),
    (
        "daily quota",
        429,
        err(429, "RESOURCE_EXHAUSTED", "m", quota(PER_DAY), retry("23s")),
        RateLimited(23.0, True, PER_DAY),
    ),
    (
        "daily among several, order varies",
        429,
        err(429, "RESOURCE_EXHAUSTED", "m", retry("65205s"), quota(PER_MIN, PER_DAY)),
        RateLimited(65205.0, True, PER_DAY),
    ),
    ("no details", 429, err(429, "RESOURCE_EXHAUSTED"), RateLimited(None, False, None)),
    (
        "delay from message only",
        429,
        err(429, "RESOURCE_EXHAUSTED", "Quota exceeded.\nPlease retry in 57.238747106s."),
        RateLimited(57.238747106),
    ),
    ("old format", 429, err(429, "RESOURCE_EXHAUSTED", "m", info("RATE_LIMIT_EXCEEDED")), RateLimited()),
    ("empty 429 body", 429, {}, RateLimited()),
    ("401", 401, err(401, "UNAUTHENTICATED"), InvalidKey("UNAUTHENTICATED")),
    (
        "400 key message only",
        400,
        err(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key."),
        InvalidKey("API_KEY_INVALID"),
    ),
    (
        "400 expired",
        400,
        err(400, "INVALID_ARGUMENT", "API key expired. Please renew the API key.", info("API_KEY_EXPIRED")),
        InvalidKey("API_KEY_EXPIRED"),
    ),
    (
        "400 bad field",
        400,
        err(400, "INVALID_ARGUMENT", 'Invalid JSON payload received. Unknown name "x"'),
        ClientFault(),
    ),
    (
        "400 location",
        400,
        err(400, "FAILED_PRECONDITION", "User location is not supported for the API use."),
        ClientFault(),
    ),
    # A 403 with no key-specific reason would disable every key one request tries: the client gets it.
    ("403 plain", 403, err(403, "PERMISSION_DENIED", "Permission denied."), ClientFault()),
    ("403 caller", 403, err(403, "PERMISSION_DENIED", "The caller does not have permission"), ClientFault()),
    (
        "403 leaked key",
        403,
        err(403, "PERMISSION_DENIED", "Your API key was reported as leaked. Please use another API key."),
        InvalidKey("PERMISSION_DENIED"),
    ),
    (
        "403 about a file",
        403,
        err(403, "PERMISSION_DENIED", "You do not have permission to access the File x or it may not exist."),
        ClientFault(),
    ),
    (
        "403 about a cache",
        403,
        err(403, "PERMISSION_DENIED", "CachedContent not found (or permission denied)"),
        ClientFault(),
    ),
    ("500", 500, err(500, "INTERNAL", "An internal error has occurred."), Transient("500 INTERNAL")),
    ("502 no body", 502, {}, Transient("502")),
    ("504", 504, err(504, "DEADLINE_EXCEEDED"), Transient("504 DEADLINE_EXCEEDED")),
    ("499", 499, err(499, "CANCELLED"), Transient("499 CANCELLED")),
    ("connection error", 0, {}, Transient("connection error")),
    ("413", 413, {}, ClientFault()),
    (
        "200 usage",
        200,
        {"usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 3, "thoughtsTokenCount": 2}},
        Success(7, 5),
    ),
    (
        "200 stream array",
        200,
        [
            {"usageMetadata": {"promptTokenCount": 7}},
            {"usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 9}},
        ],
        Success(7, 9),
    ),
]


@pytest.mark.parametrize(("status", "body", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_classify(status: int, body: Any, expected: Outcome) -> None:
    assert classify(status, body) == expected


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("58s", 58.0),
        ("1.203608125s", 1.203608125),
        ("0s", 0.0),
        ("250ms", 0.25),
        ("x", None),
        (None, None),
        ({"seconds": 3, "nanos": 500000000}, 3.5),
        (-1, None),
    ],
)
def test_parse_duration(text: Any, seconds: float | None) -> None:
    assert parse_duration(text) == seconds


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> float:
    return datetime(y, mo, d, h, mi, tzinfo=LA).timestamp()


@pytest.mark.parametrize(
    ("now", "expected", "hours"),
    [
        (at(2026, 3, 7, 12), at(2026, 3, 8), 12),  # plain PST afternoon
        (at(2026, 3, 8, 1, 30), at(2026, 3, 9), 21.5),  # spring forward at 02:00: the day has 23 hours
        (at(2026, 3, 8, 3, 0), at(2026, 3, 9), 21),  # after the switch (PDT)
        (at(2026, 11, 1, 0, 30), at(2026, 11, 2), 24.5),  # fall back: the day has 25 hours
        (at(2026, 11, 1, 23, 59), at(2026, 11, 2), 1 / 60),
        (at(2026, 3, 8, 0, 0), at(2026, 3, 9), 23),  # exactly midnight -> the next one
    ],
)
def test_next_pacific_midnight_dst(now: float, expected: float, hours: float) -> None:
    nxt = next_pacific_midnight(now)
    assert nxt == expected
    assert (nxt - now) / 3600 == pytest.approx(hours)
    local = datetime.fromtimestamp(nxt, LA)
    assert (local.hour, local.minute) == (0, 0)


def test_pacific_day() -> None:
    # 2026-03-08 07:30 UTC is still 2026-03-07 in Los Angeles
    assert pacific_day(datetime.fromisoformat("2026-03-08T07:30:00+00:00").timestamp()) == "2026-03-07"
    assert pacific_day(at(2026, 3, 8, 0, 0)) == "2026-03-08"

"""What an answer from Gemini means for the key that sent it.

``classify(status, body)`` turns Google's HTTP status and (parsed) error body into one
``Outcome``; the pool (``upstream/pool.py``) acts on it:

============  =========================================================  ==========================
Outcome       when                                                       pool action
============  =========================================================  ==========================
Success       2xx                                                        counters; reset backoff
RateLimited   429 (RESOURCE_EXHAUSTED)                                   cool the key (and its
                                                                         project) for that model
InvalidKey    401; 400 with ErrorInfo ``API_KEY_INVALID``/``API_KEY_*``  disable the key (all
              or "API key not valid/expired"; 403 PERMISSION_DENIED      models, persistent)
              unless it names a request resource (File, CachedContent,
              TunedModel); 403 with ErrorInfo ``SERVICE_DISABLED`` etc.
Transient     5xx, 408, 499, status 0 (connection error / timeout)       nothing: retry elsewhere
ClientFault   other 4xx (400 INVALID_ARGUMENT, 404 model, 413, ...)      nothing: not retried
============  =========================================================  ==========================

429 details (docs/protocol.md §8): ``RetryInfo.retryDelay`` is a protobuf Duration string
("58s", "1.203608125s"); when absent, the message's "Please retry in 58.2s." is used. A
``QuotaFailure`` violation whose ``quotaId`` contains ``PerDay`` marks daily exhaustion:
``per_day=True`` (the pool then waits for Pacific midnight and ignores ``retry_after``).

Bodies may arrive wrapped in a JSON array (``:streamGenerateContent`` without ``alt=sse``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

__all__ = [
    "ClientFault",
    "InvalidKey",
    "Outcome",
    "RateLimited",
    "Success",
    "Transient",
    "classify",
    "next_pacific_midnight",
    "pacific_day",
    "parse_duration",
]

PACIFIC = ZoneInfo("America/Los_Angeles")

_TYPE_PREFIX = "type.googleapis.com/google.rpc."
_RETRY_IN = re.compile(r"retry in\s+([0-9]+(?:\.[0-9]+)?)\s*(ms|s)\b", re.IGNORECASE)
# ErrorInfo reasons that mean "this key cannot be used", whatever the request.
_KEY_REASONS = frozenset(
    {
        "API_KEY_INVALID",
        "API_KEY_EXPIRED",
        "API_KEY_SERVICE_BLOCKED",
        "API_KEY_HTTP_REFERRER_BLOCKED",
        "API_KEY_IP_ADDRESS_BLOCKED",
        "API_KEY_ANDROID_APP_BLOCKED",
        "API_KEY_IOS_APP_BLOCKED",
        "SERVICE_DISABLED",
        "CONSUMER_SUSPENDED",
        "CONSUMER_INVALID",
        "BILLING_DISABLED",
        "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
    }
)
# A 403 whose message names one of these is about a resource of the request, not the key.
_RESOURCE_WORDS = ("CachedContent", "File ", "file ", "TunedModel", "tunedModels/", "cachedContents/", "files/")


@dataclass(frozen=True, slots=True)
class Success:
    prompt_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True, slots=True)
class RateLimited:
    retry_after: float | None = None
    per_day: bool = False
    quota_id: str | None = None


@dataclass(frozen=True, slots=True)
class InvalidKey:
    reason: str


@dataclass(frozen=True, slots=True)
class Transient:
    reason: str


@dataclass(frozen=True, slots=True)
class ClientFault:
    pass


Outcome = Success | RateLimited | InvalidKey | Transient | ClientFault


def parse_duration(value: object) -> float | None:
    """Parse a protobuf Duration JSON value ("58s", "1.203608125s", "0.5s") to seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) if value >= 0 else None
    if isinstance(value, dict):  # {"seconds": 58, "nanos": 0} (proto3 object form)
        try:
            return float(value.get("seconds", 0)) + float(value.get("nanos", 0)) / 1e9
        except (TypeError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.endswith("ms"):
        scale, text = 0.001, text[:-2]
    elif text.endswith("s"):
        scale, text = 1.0, text[:-1]
    else:
        scale = 1.0
    try:
        seconds = float(text) * scale
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _unwrap(body: object) -> dict[str, Any]:
    """The ``error`` object of a body, unwrapping a JSON-array stream; ``{}`` if none."""
    if isinstance(body, list):
        for item in body:
            if isinstance(item, dict) and isinstance(item.get("error"), dict):
                return dict(item["error"])
        return {}
    if isinstance(body, dict):
        error = body.get("error")
        return dict(error) if isinstance(error, dict) else {}
    return {}


def _details(error: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    details = error.get("details")
    if not isinstance(details, list):
        return []
    want = _TYPE_PREFIX + kind
    return [d for d in details if isinstance(d, dict) and d.get("@type") == want]


def _reasons(error: dict[str, Any]) -> list[str]:
    return [str(d.get("reason")) for d in _details(error, "ErrorInfo") if d.get("reason")]


def _usage(body: object) -> Success:
    chunks = body if isinstance(body, list) else [body]
    prompt = output = 0
    for chunk in chunks:  # streamed arrays repeat usage; the last one is the total
        usage = chunk.get("usageMetadata") if isinstance(chunk, dict) else None
        if isinstance(usage, dict):
            prompt = int(usage.get("promptTokenCount") or 0)
            output = int(usage.get("candidatesTokenCount") or 0) + int(usage.get("thoughtsTokenCount") or 0)
    return Success(prompt, output)


def _rate_limited(error: dict[str, Any]) -> RateLimited:
    retry_after: float | None = None
    for info in _details(error, "RetryInfo"):
        retry_after = parse_duration(info.get("retryDelay"))
        if retry_after is not None:
            break
    if retry_after is None:
        match = _RETRY_IN.search(str(error.get("message", "")))
        if match:
            retry_after = float(match.group(1)) * (0.001 if match.group(2).lower() == "ms" else 1.0)
    quota_ids: list[str] = []
    for failure in _details(error, "QuotaFailure"):
        violations = failure.get("violations")
        if isinstance(violations, list):
            quota_ids += [str(v["quotaId"]) for v in violations if isinstance(v, dict) and v.get("quotaId")]
    daily = [q for q in quota_ids if "PerDay" in q]
    if daily:
        return RateLimited(retry_after, True, daily[0])
    return RateLimited(retry_after, False, quota_ids[0] if quota_ids else None)


def classify(status: int, body: dict[str, Any] | list[Any] | None) -> Outcome:
    """Map Gemini's HTTP status + parsed body to an ``Outcome`` (table in the module docstring)."""
    if 200 <= status < 300:
        return _usage(body)
    if status < 100:
        return Transient("connection error")
    error = _unwrap(body)
    google_status = str(error.get("status", ""))
    message = str(error.get("message", ""))
    reasons = _reasons(error)
    if status == 429:
        return _rate_limited(error)
    if status == 401:
        return InvalidKey(reasons[0] if reasons else google_status or "UNAUTHENTICATED")
    key_reasons = [r for r in reasons if r in _KEY_REASONS or r.startswith("API_KEY_")]
    if status in (400, 403) and key_reasons:
        return InvalidKey(key_reasons[0])
    if status == 400 and ("API key not valid" in message or "API key expired" in message):
        return InvalidKey("API_KEY_INVALID")
    if status == 403:
        if any(word in message for word in _RESOURCE_WORDS):
            return ClientFault()
        return InvalidKey(reasons[0] if reasons else google_status or "PERMISSION_DENIED")
    if status >= 500 or status in (408, 499):
        return Transient(f"{status} {google_status}".strip())
    return ClientFault()


def next_pacific_midnight(now: float) -> float:
    """Epoch seconds of the next 00:00 America/Los_Angeles after ``now`` (DST-correct)."""
    local = datetime.fromtimestamp(now, PACIFIC)
    tomorrow = local.date() + timedelta(days=1)
    return datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=PACIFIC).timestamp()


def pacific_day(now: float) -> str:
    """The Pacific calendar day of ``now`` as ``YYYY-MM-DD`` (daily quotas count per this day)."""
    return datetime.fromtimestamp(now, PACIFIC).date().isoformat()

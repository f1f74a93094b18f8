"""What an answer from Gemini means for the key that sent it.

``outcome_of(error)`` turns Google's error answer, read once into a ``GoogleError``
(``upstream/google_error.py``), into one ``Outcome``; ``classify(status, body)`` does the same
from a status and a parsed body (2xx included). The pool (``upstream/pool.py``) acts on it:

============  =========================================================  ==========================
Outcome       when                                                       pool action
============  =========================================================  ==========================
Success       2xx                                                        counters; reset backoff
RateLimited   429 (RESOURCE_EXHAUSTED)                                   cool the key (and its
                                                                         project) for that model
InvalidKey    401; 400 with ErrorInfo ``API_KEY_INVALID``/``API_KEY_*``  disable the key (all
              or "API key not valid/expired"; 403 with ErrorInfo         models, persistent)
              ``SERVICE_DISABLED`` etc., or whose message is about the
              API key ("Your API key was reported as leaked")
Transient     5xx, 408, 499, status 0 (connection error / timeout)       nothing: retry elsewhere
ClientFault   other 4xx (400 INVALID_ARGUMENT, 404 model, 413, a 403     nothing: not retried
              without a key reason, ...)
============  =========================================================  ==========================

429 details (docs/protocol.md §8) are ``GoogleError``'s: ``retry_delay`` (RetryInfo, else the
message's "Please retry in 58.2s.", else Google's Retry-After) becomes ``retry_after``; a
``QuotaFailure`` id naming a day (``window == "day"``) marks daily exhaustion: ``per_day=True``
(the pool then waits for Pacific midnight and ignores ``retry_after``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gemini_proxy.upstream.google_error import GoogleError, parse_duration, parse_google_error

__all__ = [
    "ClientFault",
    "InvalidKey",
    "Outcome",
    "RateLimited",
    "Success",
    "Transient",
    "classify",
    "outcome_of",
    "next_pacific_midnight",
    "pacific_day",
    "parse_duration",
]

PACIFIC = ZoneInfo("America/Los_Angeles")

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
    output_tokens: int = 0  # candidates' and thoughts' tokens
    thought_tokens: int = 0  # of which thoughts


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


def _usage(body: object) -> Success:
    chunks = body if isinstance(body, list) else [body]
    prompt = output = 0
    for chunk in chunks:  # streamed arrays repeat usage; the last one is the total
        usage = chunk.get("usageMetadata") if isinstance(chunk, dict) else None
        if isinstance(usage, dict):
            prompt = int(usage.get("promptTokenCount") or 0)
            output = int(usage.get("candidatesTokenCount") or 0) + int(usage.get("thoughtsTokenCount") or 0)
    return Success(prompt, output)


def _rate_limited(error: GoogleError) -> RateLimited:
    if error.per_day:
        daily = next(q for q in error.quota_ids if "PerDay" in q)
        return RateLimited(error.retry_delay, True, daily)
    return RateLimited(error.retry_delay, False, error.quota_ids[0] if error.quota_ids else None)


def outcome_of(error: GoogleError) -> Outcome:
    """What Google's error answer means for the key (table in the module docstring)."""
    status = error.http_status
    if 200 <= status < 300:
        return Success()
    if status < 100:
        return Transient("connection error")
    google_status, message, reasons = error.status, error.message, error.reasons
    if status == 429:
        return _rate_limited(error)
    if status == 401:
        return InvalidKey(reasons[0] if reasons else google_status or "UNAUTHENTICATED")
    key_reasons = [r for r in reasons if r in _KEY_REASONS or r.startswith("API_KEY_")]
    if status in (400, 403) and key_reasons:
        return InvalidKey(key_reasons[0])
    if status == 400 and ("API key not valid" in message or "API key expired" in message):
        return InvalidKey("API_KEY_INVALID")
    if status == 403 and "API key" in message and not any(word in message for word in _RESOURCE_WORDS):
        # About the key itself: "Your API key was reported as leaked. Please use another API key."
        return InvalidKey(reasons[0] if reasons else google_status or "PERMISSION_DENIED")
    # Any other 403 names no key-specific reason: a resource of the request, a model the project
    # may not use, a caller without identity. Every key would get it; disabling each one the
    # request tries would empty the pool for one bad request. It goes back to the client.
    if status >= 500 or status in (408, 499):
        return Transient(f"{status} {google_status}".strip())
    return ClientFault()


def classify(status: int, body: dict[str, Any] | list[Any] | None) -> Outcome:
    """``outcome_of`` from an HTTP status and parsed body; a 2xx counts the body's tokens."""
    if 200 <= status < 300:
        return _usage(body)
    return outcome_of(parse_google_error(status, body))


def next_pacific_midnight(now: float) -> float:
    """Epoch seconds of the next 00:00 America/Los_Angeles after ``now`` (DST-correct)."""
    local = datetime.fromtimestamp(now, PACIFIC)
    tomorrow = local.date() + timedelta(days=1)
    return datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=PACIFIC).timestamp()


def pacific_day(now: float) -> str:
    """The Pacific calendar day of ``now`` as ``YYYY-MM-DD`` (daily quotas count per this day)."""
    return datetime.fromtimestamp(now, PACIFIC).date().isoformat()

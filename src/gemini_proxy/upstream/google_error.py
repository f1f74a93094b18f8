"""Google's error answer, parsed once into a typed value that every reader shares.

Google's error body (docs/protocol.md §8) is ``{"error": {"code", "message", "status", "details"}}``,
sometimes wrapped in a JSON array (``:streamGenerateContent`` without ``alt=sse``). Its
``details`` carry typed objects; the ones the proxy acts on:

=================================  ==============================================================
detail (``type.googleapis.com/``)  read into
=================================  ==============================================================
``google.rpc.ErrorInfo``           ``reasons`` (``API_KEY_INVALID``, ``SERVICE_DISABLED``, ...)
``google.rpc.RetryInfo``           ``retry_delay``: a protobuf Duration, ``"58s"``,
                                   ``"1.203608125s"``, ``"500ms"`` or ``{"seconds": 3, "nanos": 0}``
``google.rpc.QuotaFailure``        ``quota_ids`` (``...PerMinute...``, ``...PerDay...``) and
                                   ``window`` (``"day"`` if any id names a day, else ``"minute"``)
=================================  ==============================================================

Without RetryInfo the delay is read from the message ("Please retry in 12.5s.", "... in 500ms")
and then from Google's own ``Retry-After`` header (whole seconds). ``parse_google_error`` is the
only code that reads these bodies: the pool's classification (``quota.py``) and every surface's
rendering (``translate/errors.py``, ``api/``) read the fields of the value it returns, which the
error carries (``UpstreamStatusError.google``). This module imports nothing of the package, so
that ``errors.py`` may hold its value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["GoogleError", "parse_duration", "parse_google_error"]

_TYPE_PREFIX = "type.googleapis.com/google.rpc."
_RETRY_IN = re.compile(r"retry in\s+([0-9]+(?:\.[0-9]+)?)\s*(ms|s)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class GoogleError:
    """One Google error answer. ``http_status`` is the HTTP status it came with; ``code`` the body's
    ``error.code`` (Google repeats the HTTP status there; 0 when the body has none)."""

    http_status: int
    code: int = 0
    status: str = ""  # Google's canonical status: "RESOURCE_EXHAUSTED", "INVALID_ARGUMENT", ...
    message: str = ""
    reasons: tuple[str, ...] = ()  # ErrorInfo reasons, in order
    retry_delay: float | None = None  # seconds
    quota_ids: tuple[str, ...] = ()
    window: Literal["minute", "day"] | None = None  # which quota ran out (QuotaFailure), if named

    @property
    def per_day(self) -> bool:
        return self.window == "day"

    @property
    def reason(self) -> str | None:
        """The first ErrorInfo reason, if any."""
        return self.reasons[0] if self.reasons else None


def parse_duration(value: object) -> float | None:
    """A protobuf Duration in its JSON forms (``"58s"``, ``"1.5s"``, ``"500ms"``,
    ``{"seconds": 3, "nanos": 500000000}``, a bare number) to seconds; None if unreadable."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) if value >= 0 else None
    if isinstance(value, dict):  # proto3 object form
        try:
            seconds = float(value.get("seconds", 0) or 0) + float(value.get("nanos", 0) or 0) / 1e9
        except (TypeError, ValueError):
            return None
        return seconds if seconds >= 0 else None
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
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _error_object(body: object) -> dict[str, Any]:
    """The ``error`` object of a body, unwrapping a JSON-array stream; ``{}`` if none."""
    if isinstance(body, list):
        for item in body:
            if isinstance(item, dict) and isinstance(item.get("error"), dict):
                return item["error"]  # type: ignore[no-any-return]
        return {}
    if isinstance(body, dict):
        error = body.get("error")
        return error if isinstance(error, dict) else {}
    return {}


def _header_delay(headers: Mapping[str, str] | None) -> float | None:
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after" and value.strip().isdigit():
            return float(value.strip())
    return None


def parse_google_error(
    http_status: int, body: object, headers: Mapping[str, str] | None = None
) -> GoogleError:
    """Read Google's error ``body`` (parsed JSON, possibly array-wrapped, or anything else)."""
    error = _error_object(body)
    details = error.get("details")
    reasons: list[str] = []
    quota_ids: list[str] = []
    retry_delay: float | None = None
    for detail in details if isinstance(details, list) else ():
        if not isinstance(detail, dict):
            continue
        kind = str(detail.get("@type", ""))
        if kind == _TYPE_PREFIX + "ErrorInfo":
            if detail.get("reason"):
                reasons.append(str(detail["reason"]))
        elif kind == _TYPE_PREFIX + "RetryInfo":
            if retry_delay is None:
                retry_delay = parse_duration(detail.get("retryDelay"))
        elif kind == _TYPE_PREFIX + "QuotaFailure":
            violations = detail.get("violations")
            for violation in violations if isinstance(violations, list) else ():
                if isinstance(violation, dict) and violation.get("quotaId"):
                    quota_ids.append(str(violation["quotaId"]))
    message = error.get("message")
    message = message if isinstance(message, str) else ""
    if retry_delay is None:
        match = _RETRY_IN.search(message)
        if match:
            retry_delay = float(match.group(1)) * (0.001 if match.group(2).lower() == "ms" else 1.0)
    if retry_delay is None:
        retry_delay = _header_delay(headers)
    window: Literal["minute", "day"] | None = None
    if quota_ids:
        window = "day" if any("PerDay" in q for q in quota_ids) else "minute"
    code = error.get("code")
    return GoogleError(
        http_status=http_status,
        code=code if isinstance(code, int) and not isinstance(code, bool) else 0,
        status=str(error.get("status") or ""),
        message=message,
        reasons=tuple(reasons),
        retry_delay=retry_delay,
        quota_ids=tuple(quota_ids),
        window=window,
    )

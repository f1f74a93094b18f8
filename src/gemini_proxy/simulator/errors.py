"""Google error bodies (google.rpc.Status as JSON), with the real texts."""

from __future__ import annotations

import math
from typing import Any

import orjson

STATUS_NAMES: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

MSG_NO_KEY = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)
MSG_BAD_KEY = "API key not valid. Please pass a valid API key."
MSG_INTERNAL = (
    "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting"
)
MSG_OVERLOADED = "The model is overloaded. Please try again later."
MSG_INVALID_ARGUMENT = "Request contains an invalid argument."
MSG_CACHE_DENIED = "CachedContent not found (or permission denied)"
RATE_LIMIT_URL = "https://ai.google.dev/gemini-api/docs/rate-limits"
T_BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"


class SimError(Exception):
    """An error answered with Google's JSON error body."""

    def __init__(
        self,
        code: int,
        message: str,
        details: list[dict[str, Any]] | None = None,
        status: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self.status = status or STATUS_NAMES.get(code, "UNKNOWN")

    def payload(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            err["details"] = self.details
        return {"error": err}

    def body(self) -> bytes:
        """Pretty-printed, 2-space indent, trailing newline (as Google sends it)."""
        return orjson.dumps(self.payload(), option=orjson.OPT_INDENT_2) + b"\n"

    def array_body(self) -> bytes:
        """The body wrapped in a JSON array (streamGenerateContent without alt=sse)."""
        inner = orjson.dumps(self.payload(), option=orjson.OPT_INDENT_2).decode()
        return ("[" + inner.replace("\n", "\n  ") + "\n  ]").encode()


def no_key() -> SimError:
    return SimError(403, MSG_NO_KEY)


def bad_key(key: str) -> SimError:
    return SimError(
        400,
        MSG_BAD_KEY,
        [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            },
            {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": MSG_BAD_KEY},
        ],
    )


def model_not_found(model: str, version: str, method: str) -> SimError:
    return SimError(
        404,
        f"models/{model} is not found for API version {version}, or is not supported for {method}. "
        "Call ListModels to see the list of available models and their supported methods.",
    )


def invalid_argument(message: str = MSG_INVALID_ARGUMENT, field: str | None = None) -> SimError:
    details = None
    if field is not None:
        details = [{"@type": T_BAD_REQUEST, "fieldViolations": [{"field": field, "description": message}]}]
    return SimError(400, message, details)


def violations(items: list[tuple[str, str]]) -> SimError:
    """400 for one or more (field path, description) pairs, Google's BadRequest style."""
    fv: list[dict[str, str]] = []
    for path, desc in items:
        fv.append({"field": path, "description": desc} if path else {"description": desc})
    return SimError(400, "\n".join(d for _, d in items), [{"@type": T_BAD_REQUEST, "fieldViolations": fv}])


def unknown_field_text(name: str, path: str) -> str:
    where = f" at '{path}'" if path else ""
    return f'Invalid JSON payload received. Unknown name "{name}"{where}: Cannot find field.'


def invalid_value_text(path: str, type_name: str, value: Any) -> str:
    shown = orjson.dumps(value).decode() if not isinstance(value, str) else f'"{value}"'
    return f"Invalid value at '{path}' ({type_name}), {shown}"


def internal() -> SimError:
    return SimError(500, MSG_INTERNAL)


def overloaded() -> SimError:
    return SimError(503, MSG_OVERLOADED)


def cache_denied() -> SimError:
    return SimError(403, MSG_CACHE_DENIED)


def quota_exceeded(model: str, limit: int, per_day: bool, retry_seconds: float) -> SimError:
    """429 RESOURCE_EXHAUSTED shaped like the real free-tier body (Help, QuotaFailure, RetryInfo)."""
    metric = "generativelanguage.googleapis.com/generate_content_free_tier_requests"
    quota_id = (
        "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
        if per_day
        else "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
    )
    retry_seconds = max(retry_seconds, 0.0)
    message = (
        "You exceeded your current quota, please check your plan and billing details. For more information "
        f"on this error, head to: {RATE_LIMIT_URL}. To monitor your current usage, head to: "
        f"https://ai.dev/rate-limit. \n* Quota exceeded for metric: {metric}, limit: {limit}, model: {model}\n"
        f"Please retry in {retry_seconds:.9f}s."
    )
    return SimError(
        429,
        message,
        [
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [{"description": "Learn more about Gemini API quotas", "url": RATE_LIMIT_URL}],
            },
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": metric,
                        "quotaId": quota_id,
                        "quotaDimensions": {"model": model, "location": "global"},
                        "quotaValue": str(limit),
                    }
                ],
            },
            # Rounded up: "0s" while the quota is still spent would invite a retry that is refused again.
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{math.ceil(retry_seconds)}s"},
        ],
    )


def from_status(code: int, message: str | None = None) -> SimError:
    """A generic error for an injected status code."""
    if code == 500:
        return internal()
    if code == 503:
        return overloaded()
    if code == 400:
        return invalid_argument(message or MSG_INVALID_ARGUMENT)
    if code == 403:
        return SimError(403, message or "The caller does not have permission")
    if code == 404:
        return SimError(404, message or "Requested entity was not found.")
    if code == 499:
        return SimError(499, message or "The operation was cancelled.")
    if code == 504:
        return SimError(504, message or "Deadline expired before operation could complete.")
    return SimError(code, message or MSG_INVALID_ARGUMENT)

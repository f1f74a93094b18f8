"""``ProxyError`` -> OpenAI error ``(status, {"error": {message, type, param, code}}, headers)``.

Google's answers (``UpstreamStatusError``) are mapped by HTTP status and ``error.status``:

=====================================  ======  ========================  ======================
Gemini                                 HTTP    type                      code
=====================================  ======  ========================  ======================
400 INVALID_ARGUMENT/FAILED_PRECOND.   400     invalid_request_error     null (Google's message)
400 with ErrorInfo API_KEY_INVALID     502     api_error                 upstream_key_invalid
401 UNAUTHENTICATED                    401     authentication_error      upstream_unauthenticated
403 PERMISSION_DENIED                  403     permission_error          upstream_permission_denied
404 NOT_FOUND (a model)                404     invalid_request_error     model_not_found
404 other                              404     invalid_request_error     not_found
429 RESOURCE_EXHAUSTED                 429     rate_limit_error          rate_limit_exceeded + Retry-After¹
500 INTERNAL, other 5xx, 499           502     api_error                 upstream_error
503 UNAVAILABLE                        503     api_error                 upstream_unavailable
504 DEADLINE_EXCEEDED                  504     api_error                 upstream_timeout
other 4xx                              same    invalid_request_error     null
=====================================  ======  ========================  ======================

¹ Google's retry delay (``exc.google.retry_delay``: RetryInfo in any Duration form, the message's
"retry in 12.5s", or Google's own Retry-After), rounded up to whole seconds.

An invalid *pool* key is the proxy's fault, not the client's, hence 502 for API_KEY_INVALID.
Messages are scrubbed of anything that looks like a key (``key=...``, ``AIza...``).
"""

from __future__ import annotations

import math
import re
from typing import Any

from gemini_proxy.errors import NoKeyAvailable, ProxyError, UpstreamStatusError

_KEY_QUERY = re.compile(r"([?&]key=)[^&\s\"']+", re.IGNORECASE)
_GOOGLE_KEY = re.compile(r"AIza[0-9A-Za-z_\-]{8,}")
_MODEL_404 = re.compile(r"\bmodels?/|\bmodel\b", re.IGNORECASE)


def scrub(text: str) -> str:
    """Remove API keys from a message: ``?key=...`` query values and ``AIza...`` tokens."""
    return _GOOGLE_KEY.sub("AIza***", _KEY_QUERY.sub(r"\1***", text))


def _body(message: str, type_: str, param: str | None, code: str | None) -> dict[str, Any]:
    return {"error": {"message": scrub(message), "type": type_, "param": param, "code": code}}


def error_to_simple(exc: ProxyError) -> tuple[int, dict[str, Any], dict[str, str]]:
    """The simple surface's error object, ``{"message", "code"}`` (OpenAI's code, else its type):
    what ``/api/...`` answers inside ``{"error": ...}`` and what a failed agent job records."""
    status, body, headers = error_to_openai(exc)
    error = body["error"]
    return status, {"message": error["message"], "code": error.get("code") or error.get("type")}, headers


def error_to_openai(exc: ProxyError) -> tuple[int, dict[str, Any], dict[str, str]]:
    if isinstance(exc, UpstreamStatusError):
        return _upstream(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, NoKeyAvailable):
        headers["Retry-After"] = str(max(0, math.ceil(exc.retry_after)))
    return exc.status, _body(exc.message, exc.openai_type, exc.param, exc.code), headers


def _upstream(exc: UpstreamStatusError) -> tuple[int, dict[str, Any], dict[str, str]]:
    status, google = exc.upstream_status, exc.google.status
    message = exc.message
    if status == 400 and exc.google.reason == "API_KEY_INVALID":
        return 502, _body("Gemini rejected the proxy's API key.", "api_error", None, "upstream_key_invalid"), {}
    if status == 401 or google == "UNAUTHENTICATED":
        return 401, _body(message, "authentication_error", None, "upstream_unauthenticated"), {}
    if status == 403 or google == "PERMISSION_DENIED":
        return 403, _body(message, "permission_error", None, "upstream_permission_denied"), {}
    if status == 404:
        code = "model_not_found" if _MODEL_404.search(message) else "not_found"
        return 404, _body(message, "invalid_request_error", None, code), {}
    if status == 429 or google == "RESOURCE_EXHAUSTED":
        headers = {}
        delay = exc.google.retry_delay
        if delay is not None:
            headers["Retry-After"] = str(max(0, math.ceil(delay)))
        return 429, _body(message, "rate_limit_error", None, "rate_limit_exceeded"), headers
    if status == 503:
        return 503, _body(message, "api_error", None, "upstream_unavailable"), {}
    if status == 504:
        return 504, _body(message, "api_error", None, "upstream_timeout"), {}
    if 400 <= status < 499:
        return status, _body(message, "invalid_request_error", None, None), {}
    return 502, _body(message, "api_error", None, "upstream_error"), {}

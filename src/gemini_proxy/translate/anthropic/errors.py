"""``ProxyError`` -> Anthropic's error ``(status, {"type": "error", "error": {type, message}}, headers)``.

The status and message come from the OpenAI surface's mapping of Google's answers
(``translate.errors``); the type is what Anthropic's SDKs expect for the status:

======  ======================  ==================================================================
HTTP    type                    from
======  ======================  ==================================================================
400     invalid_request_error   a bad field (the message starts with its path, ``messages.1.content``)
401     authentication_error    no or wrong client token
403     permission_error        Gemini's PERMISSION_DENIED
404     not_found_error         unknown model (an unmapped Claude name names the setting), route
413     request_too_large       body over the size limit
429     rate_limit_error        every key spent, Gemini's 429 (+ ``retry-after`` when known)
500     api_error               a bug in the proxy
502     api_error               Gemini failed or could not be reached
504     timeout_error           Gemini's DEADLINE_EXCEEDED
529     overloaded_error        Gemini's 503 UNAVAILABLE ("The model is overloaded")
======  ======================  ==================================================================

Any other status keeps ``invalid_request_error`` (4xx) or ``api_error`` (5xx).
"""

from __future__ import annotations

import re
from typing import Any

from gemini_proxy.errors import ProxyError, UpstreamStatusError

from ..errors import error_to_openai

_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
          404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 504: "timeout_error",
          529: "overloaded_error"}  # fmt: skip
_INDEX = re.compile(r"\[(\d+)\]")


def anthropic_param(param: str) -> str:
    """``messages[1].content[0].type`` -> ``messages.1.content.0.type`` (Anthropic's spelling)."""
    return _INDEX.sub(r".\1", param)


def field_message(field: str, message: str) -> str:
    """``max_tokens: Must be an integer``, as Anthropic names the field: the message's own
    leading mention of the field (``max_tokens must be ...``) is not repeated."""
    for name in (field, field.rsplit(".", 1)[-1]):
        if message.startswith(name + " ") and len(message) > len(name) + 1:
            rest = message[len(name) + 1:]
            return f"{field}: {rest[0].upper()}{rest[1:]}"
    return f"{field}: {message}"


def error_to_anthropic(exc: ProxyError) -> tuple[int, dict[str, Any], dict[str, str]]:
    status, body, openai_headers = error_to_openai(exc)
    message = body["error"]["message"]  # already scrubbed of keys
    if isinstance(exc, UpstreamStatusError) and exc.upstream_status == 503:
        status = 529
    param = body["error"].get("param")
    if status == 400 and isinstance(param, str) and param:
        message = field_message(anthropic_param(param), message)
    kind = _TYPES.get(status) or ("invalid_request_error" if status < 500 else "api_error")
    headers = {k.lower(): v for k, v in openai_headers.items() if k.lower() == "retry-after"}
    return status, {"type": "error", "error": {"type": kind, "message": message}}, headers

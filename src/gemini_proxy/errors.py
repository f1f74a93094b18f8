"""The one exception hierarchy of gemini-proxy.

Every failure the proxy knows about is one of these. Code raises them where the failure is
found; the HTTP edge (``api/``) renders them in the format of the surface that was called
(OpenAI JSON, Google JSON, or the simple ``/api`` JSON). Routes never catch ``Exception``.

::

    ProxyError                      status, message, openai_type, code, param
    ├── ClientError                 400 the request is wrong; never retried
    │   ├── InvalidRequest          400 a field is missing or malformed (``param`` names it)
    │   ├── AuthenticationError     401 no or wrong client token
    │   ├── PermissionDenied        403 the token may not do this
    │   ├── NotFound                404 unknown model, route or job
    │   └── Conflict                409 the request clashes with the state of what it names
    ├── UpstreamError               502 Gemini could not be reached or answered badly
    │   ├── UpstreamStatusError     Gemini answered with an error status (carries its body)
    │   └── UpstreamUnavailable     timeout or connection error to Gemini
    ├── NoKeyAvailable              429 every key that could serve the model is spent
    └── ServiceUnavailable          503 a part the proxy needs is down (the job store)
"""

from __future__ import annotations

import reprlib
from typing import Any

_SHOWN = reprlib.Repr()
_SHOWN.maxlevel, _SHOWN.maxstring, _SHOWN.maxother = 2, 80, 80


def shown(value: object) -> str:
    """``repr`` of a client's value for an error message, bounded in depth and length: the value
    may be nested a thousand levels deep (plain ``repr`` overflows the stack) or megabytes long."""
    return _SHOWN.repr(value)


class ProxyError(Exception):
    """Base class. ``status`` is the HTTP status to answer with."""

    status: int = 500
    openai_type: str = "api_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, message={self.message!r}, param={self.param!r})"


class ClientError(ProxyError):
    status = 400
    openai_type = "invalid_request_error"


class InvalidRequest(ClientError):
    """A request field is missing or malformed. ``param`` is the field's path, e.g. ``messages[2].role``."""


class AuthenticationError(ClientError):
    status = 401
    code = "invalid_api_key"


class PermissionDenied(ClientError):
    status = 403
    openai_type = "permission_error"


class NotFound(ClientError):
    status = 404
    code = "not_found"


class Conflict(ClientError):
    status = 409
    code = "conflict"


class MethodNotAllowed(ClientError):
    status = 405


class RequestTimeout(ClientError):
    status = 408
    code = "request_timeout"


class PayloadTooLarge(ClientError):
    status = 413
    code = "request_too_large"


class UpstreamError(ProxyError):
    status = 502
    openai_type = "api_error"
    code = "upstream_error"


class UpstreamStatusError(UpstreamError):
    """Gemini answered with an HTTP error. ``body`` is Google's error JSON, parsed (or ``{}``).

    ``status`` is set to the status the *client* should see (see ``translate.errors``);
    ``upstream_status`` keeps Google's.
    """

    def __init__(
        self,
        upstream_status: int,
        body: dict[str, Any],
        *,
        raw: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> None:
        error = body.get("error") if isinstance(body, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        super().__init__(str(message or f"Gemini answered HTTP {upstream_status}"))
        self.upstream_status = upstream_status
        self.status = upstream_status
        self.body = body
        self.raw = raw
        self.headers = headers or {}

    @property
    def google_status(self) -> str:
        error = self.body.get("error") if isinstance(self.body, dict) else None
        return str(error.get("status", "")) if isinstance(error, dict) else ""


class UpstreamUnavailable(UpstreamError):
    """Gemini could not be reached: timeout, refused or cut connection."""

    status = 502
    code = "upstream_unavailable"


class NoKeyAvailable(ProxyError):
    """No key can serve the model now. ``retry_after`` is seconds until the earliest key frees."""

    status = 429
    openai_type = "rate_limit_error"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServiceUnavailable(ProxyError):
    """A part of the proxy itself is unreachable (Redis or SQLite holding the jobs); try again later."""

    status = 503
    code = "service_unavailable"

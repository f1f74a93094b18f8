"""The one exception hierarchy of gemini-proxy.

Every failure the proxy knows about is one of these. Code raises them where the failure is
found; the HTTP edge (``api/``) renders them in the format of the surface that was called
(OpenAI JSON, Google JSON, or the simple ``/api`` JSON). Routes never catch ``Exception``.

``status`` is the HTTP status a surface answers with by default; a renderer may map it (Google's
own errors keep Google's status in ``upstream_status``, and the OpenAI renderer answers a 500 as
502). The tree (status, then what it means)::

    ProxyError                      500 status, message, openai_type, code, param
    ├── ClientError                 400 the request is wrong; never retried
    │   ├── InvalidRequest          400 a field is missing or malformed (``param`` names it)
    │   ├── AuthenticationError     401 no or wrong client token
    │   ├── PermissionDenied        403 the token may not do this
    │   │   └── ModelNotAllowed     403 the client's ``models`` allow-list leaves this model out
    │   ├── NotFound                404 unknown model, route or job
    │   ├── MethodNotAllowed        405 the route exists, the method does not
    │   ├── RequestTimeout          408 the client was too slow sending its request
    │   ├── Conflict                409 the request clashes with the state of what it names
    │   ├── PayloadTooLarge         413 the request body is over the limit
    │   └── HeadersTooLarge         431 the request's headers are over the limit (size or count)
    ├── UpstreamError               502 Gemini answered badly (the answer could not be used)
    │   ├── UpstreamStatusError     Google's status: Gemini answered with an error; carries
    │   │                           ``google`` (the parsed ``GoogleError``), ``body``, ``raw``
    │   └── UpstreamUnavailable     502 timeout or connection error to Gemini
    ├── NoKeyAvailable              429 every key that could serve the model is spent (``retry_after``)
    │   └── ClientLimitExceeded     429 this client is over one of its own limits (``retry_after``)
    └── ServiceUnavailable          503 a part the proxy needs is down (the job store)
"""

from __future__ import annotations

import reprlib
from typing import Any

# The one parser of Google's error bodies: a leaf module of upstream/ that imports nothing of ours.
from gemini_proxy.upstream.google_error import GoogleError, parse_google_error

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


class ModelNotAllowed(PermissionDenied):
    """The client has an allow-list of models (``models`` in the clients file) without this one."""

    code = "model_not_allowed"


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


class HeadersTooLarge(ClientError):
    status = 431
    code = "request_header_fields_too_large"


class UpstreamError(ProxyError):
    status = 502
    openai_type = "api_error"
    code = "upstream_error"


class UpstreamStatusError(UpstreamError):
    """Gemini answered with an HTTP error. ``google`` is Google's error body read once
    (``upstream.google_error.GoogleError``: status, reasons, retry delay, quota window); ``body``
    the parsed JSON itself (or ``{}``), ``raw`` its bytes as Google sent them.

    ``status`` starts as Google's HTTP status (``upstream_status`` keeps it); each surface's
    renderer decides what the *client* sees (``translate.errors`` maps a 500 to 502, for one).
    """

    def __init__(
        self,
        upstream_status: int,
        body: dict[str, Any],
        *,
        raw: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.google: GoogleError = parse_google_error(upstream_status, body, headers)
        super().__init__(self.google.message or f"Gemini answered HTTP {upstream_status}")
        self.upstream_status = upstream_status
        self.status = upstream_status
        self.body = body
        self.raw = raw
        self.headers = headers or {}

    @property
    def google_status(self) -> str:
        return self.google.status


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


class ClientLimitExceeded(NoKeyAvailable):
    """The client is over one of its own limits (``clients.Client``: requests per minute, requests
    at once); other clients are not affected. Rendered as every surface renders a spent pool: 429
    with ``Retry-After``."""


class ServiceUnavailable(ProxyError):
    """A part of the proxy itself is unreachable (Redis or SQLite holding the jobs); try again later."""

    status = 503
    code = "service_unavailable"

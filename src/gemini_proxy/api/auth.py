"""Client authentication: when client tokens are configured, every route but ``/health`` and the
dashboard page needs one.

A token is taken from ``Authorization: Bearer <token>`` (OpenAI clients), ``x-api-key``
(Anthropic clients), ``x-goog-api-key`` or ``?key=`` (Gemini clients). A missing or wrong token
gets 401 in the format of the surface that was called (``api/asgi.py``
renders it). Without tokens configured it costs nothing.
"""

from __future__ import annotations

import hmac
from urllib.parse import parse_qsl

from starlette.types import Scope

from gemini_proxy.errors import AuthenticationError

# The dashboard's page holds no data: it asks for a token and sends it with its own requests.
OPEN_PATHS = frozenset({"/health", "/dashboard", "/"})
# Guarded by the admin token instead (api/keys.py).
ADMIN_PREFIX = "/api/keys"


def client_token(scope: Scope) -> str | None:
    headers: dict[bytes, bytes] = dict(scope["headers"])
    authorization = headers.get(b"authorization")
    if authorization is not None:
        scheme, _, value = authorization.decode("latin-1").partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    anthropic = headers.get(b"x-api-key")
    if anthropic:
        return anthropic.decode("latin-1").strip()
    goog = headers.get(b"x-goog-api-key")
    if goog:
        return goog.decode("latin-1").strip()
    query = scope.get("query_string", b"")
    if b"key=" in query:
        for name, value in parse_qsl(query.decode("latin-1")):
            if name == "key":
                return str(value)
    return None


class ClientAuth:
    """Checks a request's client token against the configured ones (none configured: all pass)."""

    def __init__(self, tokens: frozenset[str]) -> None:
        self.tokens = tuple(token.encode() for token in tokens)

    def check(self, scope: Scope) -> AuthenticationError | None:
        """The error to answer with, or None when the request may pass."""
        path = scope["path"]
        if not self.tokens or path in OPEN_PATHS or path.startswith(ADMIN_PREFIX):
            return None
        token = client_token(scope)
        if token is not None and self._valid(token.encode()):
            return None
        message = "Missing client token." if token is None else "Invalid client token."
        return AuthenticationError(
            message + " Send one of the configured GEMINI_PROXY_AUTH_TOKENS as 'Authorization: Bearer <token>',"
            " 'x-api-key' or 'x-goog-api-key'."
        )

    def _valid(self, token: bytes) -> bool:
        ok = False
        for candidate in self.tokens:
            ok |= hmac.compare_digest(candidate, token)
        return ok

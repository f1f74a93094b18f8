"""Client authentication: when client tokens are configured, every route but ``/health`` needs one.

A token is taken from ``Authorization: Bearer <token>`` (OpenAI clients), ``x-goog-api-key`` or
``?key=`` (Gemini clients). A missing or wrong token gets 401 in the format of the surface that
was called. This is a plain ASGI middleware: it costs a dict lookup per request.
"""

from __future__ import annotations

import hmac
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from gemini_proxy.api.common import render_google, render_openai, render_simple
from gemini_proxy.errors import AuthenticationError

OPEN_PATHS = frozenset({"/health"})
# Guarded by the admin token instead (api/keys.py).
ADMIN_PREFIX = "/api/keys"


def is_google_surface(path: str, headers: dict[bytes, bytes] | None = None) -> bool:
    if path.startswith("/v1beta/"):
        return True
    if path.startswith("/v1/") and (":" in path or path.startswith("/v1/cachedContents")):
        return True
    return bool(headers) and (b"x-goog-api-key" in headers or b"x-goog-api-client" in headers)  # type: ignore[operator]


def client_token(scope: Scope) -> str | None:
    headers: dict[bytes, bytes] = dict(scope["headers"])
    authorization = headers.get(b"authorization")
    if authorization is not None:
        scheme, _, value = authorization.decode("latin-1").partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
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
    def __init__(self, app: ASGIApp, *, tokens: frozenset[str]) -> None:
        self.app = app
        self.tokens = tuple(token.encode() for token in tokens)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if not self.tokens or scope["type"] != "http" or path in OPEN_PATHS or path.startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        token = client_token(scope)
        if token is not None and self._valid(token.encode()):
            await self.app(scope, receive, send)
            return
        message = "Missing client token." if token is None else "Invalid client token."
        error = AuthenticationError(
            message + " Send one of the configured GEMINI_PROXY_AUTH_TOKENS as 'Authorization: Bearer <token>'"
            " or 'x-goog-api-key'."
        )
        if is_google_surface(path, dict(scope["headers"])):
            response = render_google(error)
        elif path.startswith("/api/"):
            response = render_simple(error)
        else:
            response = render_openai(error)
        await response(scope, receive, send)

    def _valid(self, token: bytes) -> bool:
        ok = False
        for candidate in self.tokens:
            ok |= hmac.compare_digest(candidate, token)
        return ok

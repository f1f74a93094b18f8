"""Client authentication: when client tokens are configured, every route but ``/health`` and the
dashboard page needs one.

A token is taken from ``Authorization: Bearer <token>`` (OpenAI clients), ``x-api-key``
(Anthropic clients), ``x-goog-api-key`` or ``?key=`` (Gemini clients). A missing or wrong token
gets 401 in the format of the surface that was called (``api/asgi.py``
renders it). The token's client (``gemini_proxy.clients``) is put in the scope
(``request.state.client``, ``client_of``): ownership of jobs, caches, signatures and stored
responses, logs and metrics use its name. Without tokens configured it costs a dict write.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.types import Scope

from gemini_proxy.clients import ANON, Client, ClientRegistry
from gemini_proxy.errors import AuthenticationError

# The dashboard's page holds no data: it asks for a token and sends it with its own requests.
OPEN_PATHS = frozenset({"/health", "/dashboard", "/"})
# Guarded by the admin token instead (api/keys.py, api/clients.py).
ADMIN_PREFIX = ("/api/keys", "/api/clients")


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


def client_of(scope: Scope) -> Client:
    """The client ``ClientAuth.identify`` put in the request's scope (``request.state.client``).
    A scope it never saw (a test's bare app) is ``anon``."""
    state = scope.get("state")
    client = state.get("client") if state else None
    return client if isinstance(client, Client) else ANON


def owners_visible(client: Client, registry: ClientRegistry | None) -> list[str]:
    """The owner names whose data ``client`` may see: its own, or for the admin every client's."""
    if not client.admin:
        return [client.name]
    return [*(registry.names() if registry is not None else []), ANON.name]


class ClientAuth:
    """Resolves a request's client token to its ``Client`` (``clients.ClientRegistry``) and puts it
    in the scope: the one place every surface's client is known. With no client token configured
    every request is ``anon`` (the admin token, if sent, is still ``admin``)."""

    def __init__(self, registry: ClientRegistry) -> None:
        self.registry = registry

    @staticmethod
    def guarded(scope: Scope) -> bool:
        """Whether the route needs a client token (then it counts against the client's limits)."""
        path = scope["path"]
        return path not in OPEN_PATHS and not path.startswith(ADMIN_PREFIX)

    def identify(self, scope: Scope) -> AuthenticationError | None:
        """Sets ``scope["state"]["client"]``; the error to answer with, or None when the request may pass."""
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        registry = self.registry
        if not registry.configured and not registry.has_admin:
            state["client"] = ANON
            return None
        token = client_token(scope)
        client = registry.resolve(token) if token is not None else None
        if client is not None:
            state["client"] = client
            return None
        state["client"] = ANON
        path = scope["path"]
        if not registry.configured or path in OPEN_PATHS or path.startswith(ADMIN_PREFIX):
            return None
        message = "Missing client token." if token is None else "Invalid client token."
        return AuthenticationError(
            message + " Send a configured client token (GEMINI_PROXY_AUTH_TOKENS or the clients file) as"
            " 'Authorization: Bearer <token>', 'x-api-key' or 'x-goog-api-key'."
        )

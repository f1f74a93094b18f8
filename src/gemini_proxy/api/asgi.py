"""The ASGI app: client tokens, routing, and an answer for whatever no endpoint answers.

One layer in front of Starlette's router, no middleware stack: each endpoint is a
``SurfaceEndpoint`` (``common.py``) that renders its own errors, counts itself and watches for
disconnects. What is left for this layer, each answered in the format of the surface the client
called (``render_for``): a missing or wrong client token (401), a path no route matches (404), a
method the route does not take (405), and the last resort, an exception that escaped everything
(500, logged; never a stack trace to the client).

Every answer carries ``x-request-id``: the client's own when it sent a sane one (at most 128 of
``[A-Za-z0-9._:-]``), else a new one. It is in the scope (``REQUEST_ID``) and in
``observability.request_id`` for the request's task, so every log line of the request (the
access log's too) carries it, and the Anthropic surface's ``request-id`` is the same id.

With ``GEMINI_PROXY_CORS_ORIGINS`` set, Starlette's ``CORSMiddleware`` stands in front of all
of it: a browser's preflight (``OPTIONS`` with ``Access-Control-Request-Method``) is answered
there, before any client token is asked for, and every answer to a request with an allowed
``Origin`` (errors and streams included) carries the ``Access-Control-*`` headers. Unset, the
middleware is not there at all.
"""

from __future__ import annotations

import itertools
import logging
import re
from random import getrandbits
from typing import TYPE_CHECKING

from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gemini_proxy.api.auth import ClientAuth
from gemini_proxy.api.common import COUNTED, render_for, surface_name
from gemini_proxy.api.routing import IndexedRouter
from gemini_proxy.clients import Client, ClientRegistry
from gemini_proxy.errors import ClientLimitExceeded, MethodNotAllowed, NotFound, ProxyError
from gemini_proxy.limits import ClientLimiter
from gemini_proxy.observability import client_name, request_id
from gemini_proxy.upstream.allowed import ModelScope, allowed_models

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractAsyncContextManager

    from gemini_proxy.api.common import Services

log = logging.getLogger("gemini_proxy")

REQUEST_ID = "gemini_proxy.request_id"  # in the ASGI scope: the request's id, as its x-request-id says
_SANE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
# New ids: a random prefix per process (workers and restarts differ) and a counter, cheaper than uuid4.
_ID_PREFIX = f"req_{getrandbits(48):012x}"
_ids = itertools.count(1)


def request_id_for(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's ``x-request-id`` if it is sane (an id to find in the logs, not something to
    echo into a header or a log line unchecked), else a new one."""
    for name, value in headers:
        if name == b"x-request-id":
            if len(value) <= 128 and _SANE_ID.fullmatch(value):
                return value.decode("ascii")
            break
    return f"{_ID_PREFIX}{next(_ids):x}"


class ProxyApp:
    """``services`` is set by the lifespan; endpoints find it as ``scope["app"].services``."""

    def __init__(
        self,
        routes: list[BaseRoute],
        *,
        lifespan: Callable[[ProxyApp], AbstractAsyncContextManager[None]],
        clients: ClientRegistry,
        cors_origins: tuple[str, ...] = (),
        limiter: ClientLimiter | None = None,
    ) -> None:
        self.router = IndexedRouter(routes, lifespan=lifespan)
        self.auth = ClientAuth(clients)
        self.limiter = limiter or ClientLimiter()
        self.services: Services | None = None
        self.cors = cors_middleware(self.serve, cors_origins) if cors_origins else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        if scope["type"] != "http":
            await self.router(scope, receive, send)  # lifespan
            return
        scope[REQUEST_ID] = rid = request_id_for(scope["headers"])
        header = (b"x-request-id", rid.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        token = request_id.set(rid)
        try:
            if self.cors is not None:
                await self.cors(scope, receive, send_with_id)
            else:
                await self.serve(scope, receive, send_with_id)
        finally:
            request_id.reset(token)

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        """An HTTP request: its client token, then its route."""
        error = self.auth.identify(scope)
        if error is not None:
            self._count(scope, 401)  # refused clients show in /metrics: a wrong token is worth seeing
            await render_for(scope)(error)(scope, receive, send)
            return
        client = scope["state"]["client"]
        named = client_name.set(client.name)  # every log line of the request, the access log's too
        # The client's model allow-list, checked by the gateway on every upstream call.
        scoped = allowed_models.set(ModelScope.of(client.name, client.models)) if client.models is not None else None
        try:
            if ClientLimiter.limits(client) and self.auth.guarded(scope):
                await self._limited(client, scope, receive, send)
            else:
                await self._route(scope, receive, send)
        finally:
            client_name.reset(named)
            if scoped is not None:
                allowed_models.reset(scoped)

    async def _limited(self, client: Client, scope: Scope, receive: Receive, send: Send) -> None:
        """A request of a client with limits: admitted (and released when it ends) or a 429."""
        refused = self.limiter.admit(client)
        if refused is not None:
            seconds, limit = refused
            self._count(scope, 429, client.name)
            error = ClientLimitExceeded(f"Client {client.name!r} is over its limit of {limit}.", retry_after=seconds)
            await render_for(scope)(error)(scope, receive, send)
            return
        try:
            await self._route(scope, receive, send)
        finally:
            self.limiter.release(client)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.router(scope, receive, send)
        except HTTPException as exc:  # the router's own 404 and 405
            response = render_for(scope)(_router_error(exc, scope))
            if exc.headers and "Allow" in exc.headers:
                response.headers["allow"] = exc.headers["Allow"]
            self._count(scope, response.status_code)
            await response(scope, receive, send)
        except Exception:
            log.exception("unhandled error", extra={"path": scope["path"]})
            response = render_for(scope)(ProxyError("Internal error in gemini-proxy."))
            if not scope.get(COUNTED):
                self._count(scope, 500)
            try:
                await response(scope, receive, send)
            except Exception:  # the answer had begun: the server closes the connection
                pass

    def _count(self, scope: Scope, status: int, client: str | None = None) -> None:
        if self.services is not None:
            self.services.metrics.observe_request(surface_name(scope), "", status, 0.0, client)


# Headers a page's script may read from an answer besides the CORS-safelisted ones.
EXPOSED_HEADERS = ("x-request-id", "request-id", "retry-after")


def cors_middleware(app: ASGIApp, origins: tuple[str, ...]) -> CORSMiddleware:
    """Any method the routes take and any request header (clients send their token in
    ``Authorization``, ``x-api-key`` or ``x-goog-api-key``, SDKs add their own); no cookies, so
    no credentials mode: ``*`` stays ``*``."""
    return CORSMiddleware(
        app,
        allow_origins=origins,
        allow_methods=("GET", "POST", "DELETE", "OPTIONS"),
        allow_headers=("*",),
        expose_headers=EXPOSED_HEADERS,
        max_age=600,
    )


def _router_error(exc: HTTPException, scope: Scope) -> ProxyError:
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        return MethodNotAllowed(
            f"{scope['method']} is not allowed on {scope['path']}; allowed: {allowed}.", code="method_not_allowed"
        )
    return NotFound(f"No route for {scope['method']} {scope['path']}.", code="not_found")


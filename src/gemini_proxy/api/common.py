"""What every surface shares: the services built in lifespan, body reading, error rendering.

Each surface renders ``ProxyError`` in its own format at the edge:

* OpenAI (``/v1/chat/completions``, ``/v1/embeddings``, ``/v1/models``): ``{"error": {message, type, param, code}}``
* Google (``/v1beta/...`` and native calls under ``/v1/models/...:method``): ``{"error": {code, message, status}}``
* simple (``/api/...``): ``{"error": {"message", "code"}}``
* Anthropic (``/v1/messages...``, and ``/v1/models`` asked with ``anthropic-version``):
  ``{"type": "error", "error": {type, message}}`` with a ``request-id`` header
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from random import getrandbits
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gemini_proxy.api.auth import client_of
from gemini_proxy.api.disconnect import DisconnectWatch
from gemini_proxy.errors import InvalidRequest, NoKeyAvailable, ProxyError, UpstreamStatusError
from gemini_proxy.observability import request_id
from gemini_proxy.translate import error_to_openai, error_to_simple, scrub
from gemini_proxy.translate.anthropic import error_to_anthropic
from gemini_proxy.translate.models import is_valid_model_id

if TYPE_CHECKING:
    from gemini_proxy.agents.service import Agents
    from gemini_proxy.clients import ClientRegistry
    from gemini_proxy.config import Settings
    from gemini_proxy.limits import ClientLimiter
    from gemini_proxy.media import MediaFetcher
    from gemini_proxy.observability import Metrics
    from gemini_proxy.state.base import StateStore
    from gemini_proxy.state.client_records import ManagedClients
    from gemini_proxy.upstream.caches import CachedContents
    from gemini_proxy.upstream.embeddings import Embeddings
    from gemini_proxy.upstream.gateway import Gateway
    from gemini_proxy.upstream.generation import Generation
    from gemini_proxy.upstream.models import Models
    from gemini_proxy.upstream.pool import KeyPool

log = logging.getLogger("gemini_proxy")

JSON = "application/json"
SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
SIGNATURE_TTL = 7 * 24 * 3600.0  # how long a thought signature is remembered by tool-call id
COUNTED = "gemini_proxy.counted"  # in the ASGI scope: this request is in the metrics already


@dataclass(slots=True)
class Services:
    """Everything the routes need, created once in lifespan and kept on the app as ``app.services``.
    A surface talks to Gemini through the services of ``upstream/`` (``generation``, ``embeddings``,
    ``models``, ``caches``), never through the gateway or the pool directly."""

    settings: Settings
    pool: KeyPool
    store: StateStore
    gateway: Gateway
    generation: Generation
    embeddings: Embeddings
    models: Models
    caches: CachedContents
    metrics: Metrics
    media: MediaFetcher
    aliases: dict[str, str]
    loop: asyncio.AbstractEventLoop
    agents: Agents
    claude_models: Mapping[str, str] = field(default_factory=dict)  # the Anthropic surface's model table
    background: set[Any] = field(default_factory=set)
    clients: ClientRegistry | None = None  # the app's (api/auth.py resolves tokens with it)
    limiter: ClientLimiter | None = None  # the app's per-client limits (api/asgi.py admits with it)
    managed_clients: ManagedClients | None = None  # the admin API's clients (api/clients.py)
    schema_cache: dict[bytes, tuple[str, dict[str, Any]]] = field(default_factory=dict)  # tools' converted schemas


def services(request: Request) -> Services:
    """The services of the app serving ``request`` (``ProxyApp.services``, in ``api/asgi.py``)."""
    return request.scope["app"].services  # type: ignore[no-any-return]


BODY_READ = "gemini_proxy.body_read"  # in the ASGI scope once ``read_body`` has read the body


async def read_body(request: Request) -> bytes:
    """The request's whole body, as ``request.body()`` gives it, for a tenth of the app's CPU less:
    a body is almost always one ``http.request`` message, handed over as it is, where Starlette
    runs an async generator over the messages and joins them (5.5 of a Chat request's 65 us in
    process). ``ClientDisconnect`` when the client leaves before it is all there. Read once: the
    bytes are not kept (a stream's request would hold them for the stream's life), and a second
    read is a ``RuntimeError``, not a wait for a body that will never come."""
    scope = request.scope
    if BODY_READ in scope:
        raise RuntimeError("the request body was read already")
    scope[BODY_READ] = True
    message = await request.receive()
    chunks: list[bytes] = []
    while message["type"] == "http.request":
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
        message = await request.receive()
    raise ClientDisconnect()


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """A request body that must be a JSON object (``InvalidRequest`` naming what is wrong)."""
    if not raw:
        raise InvalidRequest("The request body is empty; expected a JSON object.", param="body")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc.msg} (position {exc.pos}).") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.", param="body")
    return body


async def read_json_object(request: Request) -> dict[str, Any]:
    return parse_json_object(await read_body(request))


def remember_signatures(svc: Services, signatures: dict[str, str], client: str) -> None:
    """Stores thought signatures (tool-call id -> signature) off the request path: a write must
    not delay the answer. Clients that drop them get them back from ``recall_signatures``. They
    are kept under the client's name and the call id: a client naming another's call id in its
    history never gets that client's signature."""
    if signatures:
        keyed = {f"{client}/{call_id}": signature for call_id, signature in signatures.items()}
        task = asyncio.get_running_loop().create_task(svc.store.put_many("sig", keyed, ttl=SIGNATURE_TTL))
        svc.background.add(task)
        task.add_done_callback(svc.background.discard)


async def recall_signatures(svc: Services, call_ids: list[str], client: str) -> dict[str, str]:
    """The signatures ``client`` was sent for ``call_ids`` (tool-call id -> signature)."""
    if not call_ids:
        return {}
    prefix = f"{client}/"
    found = await svc.store.get_many("sig", [prefix + call_id for call_id in call_ids])
    return {key.removeprefix(prefix): value for key, value in found.items()}


def check_model_id(model: str, *, param: str = "model") -> str:
    """A model id from a URL that is safe to put in an upstream path."""
    if not is_valid_model_id(model):
        raise InvalidRequest(f"Invalid model name {model!r}.", param=param, code="invalid_model")
    return model


def json_response(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(content), status_code=status, headers=headers, media_type=JSON)


def retry_after_header(seconds: float) -> dict[str, str]:
    return {"retry-after": str(max(1, math.ceil(seconds)))}


# Rendering -------------------------------------------------------------------------------------


def render_openai(exc: ProxyError) -> Response:
    status, body, headers = error_to_openai(exc)
    return json_response(body, status, headers)


_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    413: "INVALID_ARGUMENT",  # Google's own answer to an oversized payload
    431: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def render_google(exc: ProxyError) -> Response:
    """Google's error shape. Google's own errors go back as Google sent them, scrubbed of anything
    that looks like a key as on the other surfaces (the key it was sent with is masked already)."""
    if isinstance(exc, UpstreamStatusError) and exc.raw:
        delay = exc.google.retry_delay
        retry = retry_after_header(delay) if delay is not None and exc.upstream_status == 429 else None
        return Response(_scrubbed(exc.raw), status_code=exc.upstream_status, headers=retry, media_type=JSON)
    body: dict[str, Any] = {
        "error": {"code": exc.status, "message": exc.message, "status": _GOOGLE_STATUS.get(exc.status, "UNKNOWN")}
    }
    headers = None
    if isinstance(exc, NoKeyAvailable):
        headers = retry_after_header(exc.retry_after)
        body["error"]["details"] = [
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": headers["retry-after"] + "s"}
        ]
    if exc.param:
        body["error"]["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": exc.param, "description": exc.message}],
            }
        ]
    return Response(orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n", exc.status, headers, media_type=JSON)


def _scrubbed(raw: bytes) -> bytes:
    text = raw.decode("utf-8", "replace")
    clean = scrub(text)
    return raw if clean == text else clean.encode()


def new_request_id() -> str:
    """Anthropic's ``request-id``: the request's own id (its ``x-request-id``, ``api/asgi.py``),
    or a new ``req_...`` outside a request."""
    return request_id.get() or f"req_{getrandbits(96):024x}"


def render_anthropic(exc: ProxyError) -> Response:
    """Anthropic's error shape, with the request's id in the body as Anthropic puts it there."""
    status, body, headers = error_to_anthropic(exc)
    rid = new_request_id()
    return json_response({**body, "request_id": rid}, status, {**headers, "request-id": rid})


def is_anthropic_surface(path: str, headers: list[tuple[bytes, bytes]] | None = None) -> bool:
    """``/v1/messages...``, or a shared ``/v1/`` path (``GET /v1/models``) asked with ``anthropic-version``."""
    if path.startswith("/v1/messages"):
        return True
    return bool(headers) and path.startswith("/v1/") and any(name == b"anthropic-version" for name, _ in headers or ())


def render_simple(exc: ProxyError) -> Response:
    status, error, headers = error_to_simple(exc)
    return json_response({"error": error}, status, headers)


def is_google_surface(path: str, headers: list[tuple[bytes, bytes]] | None = None, method: str = "POST") -> bool:
    """Whether a request is a Gemini client's: ``/v1beta/...``, a ``POST /v1/models/{model}:{method}``
    call, caches, or (for paths both surfaces share, like ``GET /v1/models``) Google's headers.
    Anything else under ``/v1/`` is OpenAI's, colons included (``GET /v1/models/ft:gpt-4o:org:x``)."""
    if path.startswith("/v1beta/"):
        return True
    if path.startswith("/v1/cachedContents"):
        return True
    if method == "POST" and path.startswith("/v1/models/") and ":" in path.rpartition("/")[2]:
        return True
    if not headers:
        return False
    return any(name in (b"x-goog-api-key", b"x-goog-api-client") for name, _ in headers)


def render_for(scope: Scope) -> Renderer:
    """The error format of the surface a request was sent to, told from its path (and headers)."""
    path: str = scope["path"]
    if is_google_surface(path, scope["headers"], scope["method"]):
        return render_google
    if is_anthropic_surface(path, scope["headers"]):
        return render_anthropic
    if path.startswith("/api/"):
        return render_simple
    return render_openai


def surface_name(scope: Scope) -> str:
    """The ``surface`` label of the metrics for a request no endpoint answered (401, 404, 405)."""
    render = render_for(scope)
    names: dict[Renderer, str] = {render_google: "gemini", render_simple: "simple", render_anthropic: "anthropic"}
    return names.get(render, "openai")


Endpoint = Callable[[Request], Awaitable[Response]]
Renderer = Callable[[ProxyError], Response]


class SurfaceEndpoint:
    """An endpoint as the ASGI app its route calls: a ``ProxyError`` is rendered in the surface's
    format, any other exception is logged and answered with a 500 in that format, the request is
    counted in the metrics (when ``name`` is set), and its work is cancelled if the client leaves
    before the answer is complete (``disconnect.py``)."""

    __slots__ = ("endpoint", "render", "name", "__name__")

    def __init__(self, endpoint: Endpoint, render: Renderer, name: str | None) -> None:
        self.endpoint = endpoint
        self.render = render
        self.name = name
        self.__name__ = endpoint.__name__

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        svc: Services = scope["app"].services
        watch = DisconnectWatch(svc.loop, receive, svc.settings.max_request_bytes, svc.settings.body_timeout)
        try:
            try:
                response = await self.endpoint(Request(scope, watch.receive))
            except ProxyError as exc:
                response = self.render(exc)
            except ClientDisconnect:  # gone before its body was read: nobody to answer, nothing to count
                log.info("client disconnected while sending its request", extra={"path": scope["path"]})
                return
            except Exception:
                log.exception("unhandled error", extra={"path": scope["path"]})
                response = self.render(ProxyError("Internal error in gemini-proxy."))
            if self.name is not None:
                model = scope["state"].get("model", "") if "state" in scope else ""
                # Counted in the loop's next turn, once a unary answer is written (a stream's head).
                svc.loop.call_soon(
                    svc.metrics.observe_request,
                    self.name, model, response.status_code, time.perf_counter() - started, client_of(scope).name,
                )  # fmt: skip
                scope[COUNTED] = True  # an error while sending the answer is not counted a second time
            await response(scope, receive, send)
        except asyncio.CancelledError:
            if not watch.cancelled_task:
                raise
            watch.uncancel()
            log.info("client disconnected; its request was cancelled", extra={"path": scope["path"]})
        finally:
            watch.stop()


def surface(render: Renderer, name: str | None) -> Callable[[Endpoint], SurfaceEndpoint]:
    """Makes an endpoint of a surface (see ``SurfaceEndpoint``); ``name`` labels its metrics."""

    def wrap(endpoint: Endpoint) -> SurfaceEndpoint:
        return SurfaceEndpoint(endpoint, render, name)

    return wrap


class EitherSurface:
    """One path served by several surfaces: a Gemini client's request (``is_google_surface``) goes
    to ``google``, an Anthropic client's (``anthropic-version``, when ``anthropic`` is given) to
    ``anthropic``, anyone else's to ``openai``. ``GET /v1/models`` is such a path."""

    __slots__ = ("openai", "google", "anthropic")

    def __init__(self, *, openai: SurfaceEndpoint, google: SurfaceEndpoint,
                 anthropic: SurfaceEndpoint | None = None) -> None:  # fmt: skip
        self.openai = openai
        self.google = google
        self.anthropic = anthropic

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if is_google_surface(scope["path"], scope["headers"], scope["method"]):
            endpoint = self.google
        elif self.anthropic is not None and is_anthropic_surface(scope["path"], scope["headers"]):
            endpoint = self.anthropic
        else:
            endpoint = self.openai
        await endpoint(scope, receive, send)

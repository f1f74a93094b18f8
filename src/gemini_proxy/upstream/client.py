"""The HTTP client to Gemini: one request with one key, nothing more.

This is the only place that sends to Gemini, through a ``Transport`` (``upstream/http/``): the
pooled connections in production, an ASGI app in process in tests. ``Egress`` picks the
connections a key's requests go out on: the default ones (direct, or through the outbound proxy
of the settings or the environment) unless the key names its own ``proxy=``.
Connection failures and timeouts are mapped to ``UpstreamUnavailable`` here, at one boundary.
Keys go in the ``x-goog-api-key`` header, never in the URL. Retries and key choice live one layer
up, in ``gateway.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from gemini_proxy.errors import UpstreamUnavailable
from gemini_proxy.upstream.http import ConnectionPool, HttpError, Response, Transport
from gemini_proxy.upstream.http.proxy import ProxyURL
from gemini_proxy.upstream.keys import ApiKey

_JSON = ("content-type", "application/json")


@dataclass(slots=True)
class UpstreamResponse:
    """An answer whose headers have arrived; the body is read by the caller."""

    status: int
    headers: Mapping[str, str]
    _response: Response

    @property
    def complete(self) -> bool:
        """Whether the body ended well and was all handed out (``BodyStream.complete``)."""
        return self._response.body.complete

    async def read(self) -> bytes:
        try:
            return await self._response.body.read()
        except HttpError as exc:
            raise UpstreamUnavailable(f"Gemini connection failed while reading the answer: {exc}") from exc

    async def iter_chunks(self, idle: float | None = None) -> AsyncIterator[bytes]:
        """Yields body bytes as they arrive (with ``idle``, ``b""`` each time ``idle`` seconds pass
        without any); a cut connection raises ``UpstreamUnavailable``."""
        try:
            async for data in self._response.body.iter_chunks(idle):
                yield data
        except HttpError as exc:
            raise UpstreamUnavailable(f"Gemini connection failed mid-stream: {exc}") from exc

    def close(self) -> None:
        self._response.body.close()


class Egress:
    """Connection pools by outbound proxy, each made by ``make`` (``make_connections`` with the
    pools' options bound; ``None``: direct): ``default``, through ``proxy``, for keys without ``proxy=``,
    and one per distinct ``proxy=`` of the keys, made on the first request through it. Bounded by
    the keys file: a proxy no key names any more keeps its pool, whose idle connections are
    dropped as they expire."""

    def __init__(self, make: Callable[[ProxyURL | None], Transport], proxy: ProxyURL | None = None) -> None:
        self.default = make(proxy)
        self._make = make
        self._by_proxy: dict[str, Transport] = {}

    def for_key(self, key: ApiKey) -> Transport:
        proxy = key.proxy
        if proxy is None:
            return self.default
        transport = self._by_proxy.get(proxy)
        if transport is None:
            transport = self._by_proxy[proxy] = self._make(key.route)
        return transport

    def counts(self) -> tuple[int, int, int]:
        """Connections open, idle, and requests waiting for one, over every pool."""
        pools = [t for t in (self.default, *self._by_proxy.values()) if isinstance(t, ConnectionPool)]
        return (sum(p.open_count for p in pools), sum(p.idle_count for p in pools), sum(p.waiting for p in pools))

    async def close(self) -> None:
        for transport in (*self._by_proxy.values(), self.default):
            await transport.close()


class GeminiClient:
    """Sends one request to ``{base_url}{path}`` with one key: through ``connections`` (a transport
    for every key), or the key's own pool when given an ``Egress``."""

    def __init__(self, connections: Transport | Egress) -> None:
        self._egress = connections if isinstance(connections, Egress) else None
        self._connections = connections.default if isinstance(connections, Egress) else connections
        self._targets: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}

    def _target(self, path: str, query: Mapping[str, str] | None) -> str:
        if not query:
            return path
        cache_key = (path, tuple(query.items()))
        target = self._targets.get(cache_key)
        if target is None:
            target = f"{path}?{urlencode(query)}"
            if len(self._targets) >= 1024:  # model names and page tokens vary; keep the cache bounded
                self._targets.clear()
            self._targets[cache_key] = target
        return target

    async def send(
        self,
        key: ApiKey,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> UpstreamResponse:
        request_headers = [("x-goog-api-key", key.secret)]
        if body is not None:
            request_headers.append(_JSON)
        if headers:
            request_headers.extend(headers.items())
        connections = self._connections if key.proxy is None or self._egress is None else self._egress.for_key(key)
        try:
            response = await connections.request(method, self._target(path, query), request_headers, body)
        except HttpError as exc:
            raise UpstreamUnavailable(f"Gemini could not be reached: {exc}") from exc
        return UpstreamResponse(response.status, response.headers, response)


def make_connections(
    proxy: ProxyURL | None = None,
    *,
    base_url: str,
    connect_timeout: float,
    request_timeout: float,
    max_connections: int = 256,
    on_wait: Callable[[float], None] | None = None,
) -> ConnectionPool:
    """Keep-alive connections to Gemini, shared by the keys that go out the same way (``proxy``);
    ``on_wait`` hears how long a request waited for one when all ``max_connections`` were busy.
    With the options bound (``functools.partial``), it is what an ``Egress`` makes its pools with."""
    return ConnectionPool(
        base_url,
        connect_timeout=connect_timeout,
        read_timeout=request_timeout,
        max_connections=max_connections,
        on_wait=on_wait,
        proxy=proxy,
    )

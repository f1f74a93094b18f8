"""The HTTP client to Gemini: one request with one key, nothing more.

This is the only place that touches aiohttp. Connection failures and timeouts are mapped to
``UpstreamUnavailable`` here, at one boundary. Keys go in the ``x-goog-api-key`` header, never
in the URL. Retries and key choice live one layer up, in ``gateway.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import aiohttp
from aiohttp.payload import BytesPayload
from yarl import URL

from gemini_proxy.errors import UpstreamUnavailable
from gemini_proxy.upstream.keys import ApiKey

# Headers of Google's answer that are worth passing on to a native client.
PASSED_RESPONSE_HEADERS = ("content-type", "content-disposition")


@dataclass(slots=True)
class UpstreamResponse:
    """An answer whose headers have arrived; the body is read by the caller."""

    status: int
    headers: Mapping[str, str]
    _response: aiohttp.ClientResponse

    async def read(self) -> bytes:
        try:
            return await self._response.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise UpstreamUnavailable(f"Gemini connection failed while reading the answer: {_describe(exc)}") from exc
        finally:
            self._response.release()

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """Yields body bytes as they arrive; a cut connection raises ``UpstreamUnavailable``."""
        try:
            async for data, _ in self._response.content.iter_chunks():
                if data:
                    yield data
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise UpstreamUnavailable(f"Gemini connection failed mid-stream: {_describe(exc)}") from exc
        finally:
            self._response.release()

    def close(self) -> None:
        self._response.close()


class GeminiClient:
    """Sends one request to ``{base_url}{path}`` with one key."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._urls: dict[tuple[str, tuple[tuple[str, str], ...]], URL] = {}

    def _url(self, path: str, query: Mapping[str, str] | None) -> URL:
        """The parsed URL for a path and query, cached: parsing a URL costs more than the rest of a send."""
        cache_key = (path, tuple(query.items()) if query else ())
        url = self._urls.get(cache_key)
        if url is None:
            url = URL(self._base_url + path)
            if query:
                url = url.with_query(dict(query))
            if len(self._urls) >= 1024:  # model names and page tokens vary; keep the cache bounded
                self._urls.clear()
            self._urls[cache_key] = url
        return url

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
        request_headers = {"x-goog-api-key": key.secret}
        if headers:
            request_headers.update(headers)
        # A ready payload skips aiohttp's lookup of a payload type for the body.
        data = None if body is None else BytesPayload(body, content_type="application/json")
        try:
            response = await self._session.request(method, self._url(path, query), data=data, headers=request_headers)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise UpstreamUnavailable(f"Gemini could not be reached: {_describe(exc)}") from exc
        return UpstreamResponse(response.status, response.headers, response)


def _describe(exc: BaseException) -> str:
    """A short description of a connection failure that never includes a URL with a query (keys)."""
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to {exc.host}:{exc.port}"
    return type(exc).__name__


def make_session(*, connect_timeout: float, request_timeout: float, limit: int = 0) -> aiohttp.ClientSession:
    """A pooled session tuned for many concurrent requests to one host."""
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=0, ttl_dns_cache=300, enable_cleanup_closed=True)
    timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout, sock_read=request_timeout)
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),  # Google's cookies mean nothing to an API client
        timeout=timeout,
        auto_decompress=True,
        skip_auto_headers=("User-Agent",),
        headers={"user-agent": "gemini-proxy"},
    )

"""Fetching media (images, audio, PDFs) from URLs that clients put in their messages.

Guarded against SSRF: an address that is private, loopback, link-local, multicast, reserved or
unspecified is refused unless ``allow_private`` is set. The guard sits where the address is
final, not on the URL's text: the host is checked as the HTTP library will use it (yarl's IDNA
form, so ``１２７.０.０.１``, ``127。0。0。1`` and ``①②⑦.0.0.1`` are 127.0.0.1), names are answered
only with public addresses by the resolver (every redirect hop, no second lookup to race), and
the socket factory every connection goes through refuses a private address whatever led to it.
Size and time are bounded. Errors are ``InvalidRequest`` naming the message part, so the client
learns which URL failed and why.

aiohttp (the client for arbitrary URLs) is imported on the first fetch, not at start-up: its import
alone takes ~0.2 s, and most deployments never fetch a URL.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import ipaddress
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from gemini_proxy.errors import InvalidRequest, PayloadTooLarge

if TYPE_CHECKING:
    import aiohttp

_MAX_REDIRECTS = 3


# Servers often label files generically; Gemini needs the real type of inline data.
_GENERIC_TYPES = frozenset({"application/octet-stream", "binary/octet-stream", "application/binary"})
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
)


def sniff_type(head: bytes) -> str | None:
    """The media type of common images and PDFs from their first bytes."""
    for signature, mime in _SIGNATURES:
        if head.startswith(signature):
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


_FORBIDDEN = "private or local address"


class ForbiddenAddress(OSError):
    pass


def _is_forbidden(exc: BaseException | None) -> bool:
    """Whether a connection error comes from the guard (aiohttp and aiohappyeyeballs wrap it)."""
    for _ in range(4):
        if exc is None:
            return False
        if isinstance(exc, ForbiddenAddress) or _FORBIDDEN in str(exc):
            return True
        exc = getattr(exc, "os_error", None) or exc.__cause__
    return False


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


@functools.cache
def _public_only_resolver() -> type[Any]:
    """``PublicOnlyResolver``: resolves names but answers only with public addresses."""
    from aiohttp.abc import AbstractResolver, ResolveResult
    from aiohttp.resolver import DefaultResolver

    class PublicOnlyResolver(AbstractResolver):
        def __init__(self, is_public: Callable[[str], bool]) -> None:
            self._inner = DefaultResolver()
            self._is_public = is_public

        async def resolve(
            self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
        ) -> list[ResolveResult]:
            results = await self._inner.resolve(host, port, family)
            allowed = [r for r in results if self._is_public(r["host"])]
            if not allowed:
                raise ForbiddenAddress(f"{host} resolves to a {_FORBIDDEN}")
            return allowed

        async def close(self) -> None:
            await self._inner.close()

    return PublicOnlyResolver


class _Budget:
    """The bytes one request may still fetch, shared by its concurrent fetches."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, size: int) -> None:
        self.used += size
        if self.used > self.limit:
            raise PayloadTooLarge(
                f"The media URLs of this request add up to more than {self.limit} bytes "
                f"(GEMINI_PROXY_MEDIA_MAX_TOTAL_BYTES).",
                code="media_too_large",
            )


class MediaFetcher:
    def __init__(
        self,
        *,
        max_bytes: int,
        timeout: float,
        allow_private: bool,
        max_urls: int = 100,
        max_total_bytes: int = 64 * 1024 * 1024,
        is_public: Callable[[str], bool] = is_public_address,
    ) -> None:
        self._max_bytes = max_bytes
        self._max_urls = max_urls
        self._max_total_bytes = max_total_bytes
        self._timeout = timeout
        self._allow_private = allow_private
        self._is_public = is_public  # a seam for tests: every loopback address is private
        self._session: aiohttp.ClientSession | None = None

    def _guarded_socket(self, addr_info: tuple[Any, ...]) -> socket.socket:
        """The socket for one connection attempt, refused when the address it is for is private:
        the last check, on the address actually connected to, whatever the URL or DNS said."""
        family, type_, proto, _, sockaddr = addr_info
        if not self._is_public(str(sockaddr[0])):
            raise ForbiddenAddress(f"{sockaddr[0]} is a {_FORBIDDEN}")
        return socket.socket(family=family, type=type_, proto=proto)

    def _get_session(self) -> aiohttp.ClientSession:
        import aiohttp
        from aiohttp.resolver import DefaultResolver

        if self._session is None:
            if self._allow_private:
                connector = aiohttp.TCPConnector(resolver=DefaultResolver(), limit=32)
            else:
                connector = aiohttp.TCPConnector(
                    resolver=_public_only_resolver()(self._is_public),
                    socket_factory=self._guarded_socket,
                    limit=32,
                )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                headers={"user-agent": "gemini-proxy media fetcher"},
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def fetch_all(self, urls: list[tuple[str, str]]) -> dict[str, tuple[str, str]]:
        """``[(url, param), ...]`` -> ``{url: (mime_type, base64 data)}``, fetched concurrently.

        Bounded per request: more than ``max_urls`` distinct URLs is refused before any is
        fetched, and the fetches stop (all of them) once they have read ``max_total_bytes``
        together; the first failure cancels the other fetches."""
        unique = dict(urls)
        if len(unique) > self._max_urls:
            param = list(unique.values())[self._max_urls]
            raise InvalidRequest(
                f"At most {self._max_urls} media URLs per request (GEMINI_PROXY_MEDIA_MAX_URLS); "
                f"this one has {len(unique)}.",
                param=param,
                code="too_many_media_urls",
            )
        budget = _Budget(self._max_total_bytes)
        tasks = [asyncio.ensure_future(self.fetch(url, param, budget)) for url, param in unique.items()]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for task in tasks:
                task.cancel()
        for task in tasks:  # the first failure, in the order of the URLs
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        return {url: task.result() for url, task in zip(unique, tasks, strict=True)}

    async def fetch(self, url: str, param: str, budget: _Budget | None = None) -> tuple[str, str]:
        import aiohttp

        try:
            return await self._fetch(url, param, budget or _Budget(self._max_total_bytes))
        except InvalidRequest:
            raise
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:  # ValueError: a malformed URL
            if _is_forbidden(exc):
                raise InvalidRequest(
                    f"Refusing to fetch {_safe(url)}: it points to a {_FORBIDDEN}.",
                    param=param,
                    code="invalid_image_url",
                ) from None
            reason = "timed out" if isinstance(exc, asyncio.TimeoutError) else type(exc).__name__
            raise InvalidRequest(
                f"Could not fetch {_safe(url)}: {reason}.", param=param, code="invalid_image_url"
            ) from None

    async def _fetch(self, url: str, param: str, budget: _Budget) -> tuple[str, str]:
        from yarl import URL

        session = self._get_session()
        for _ in range(_MAX_REDIRECTS + 1):
            self._check_literal(url)
            async with session.get(url, allow_redirects=False) as response:
                if response.status in (301, 302, 303, 307, 308) and "location" in response.headers:
                    url = str(response.url.join(URL(response.headers["location"])))
                    continue
                if response.status != 200:
                    raise InvalidRequest(
                        f"Could not fetch {_safe(url)}: HTTP {response.status}.", param=param, code="invalid_image_url"
                    )
                declared = response.content_length
                if declared is not None and declared > self._max_bytes:
                    raise self._too_large(url, param)
                if declared is not None and budget.used + declared > budget.limit:
                    budget.take(declared)  # refused before reading: the request's total is over
                data = bytearray()
                async for chunk in response.content.iter_chunked(65536):
                    data += chunk
                    budget.take(len(chunk))
                    if len(data) > self._max_bytes:
                        raise self._too_large(url, param)
                mime = (response.content_type or "application/octet-stream").lower()
                if mime in _GENERIC_TYPES:
                    mime = sniff_type(bytes(data[:16])) or mime
                return mime, base64.b64encode(bytes(data)).decode("ascii")
        raise InvalidRequest(f"Too many redirects fetching {_safe(url)}.", param=param, code="invalid_image_url")

    def _check_literal(self, url: str) -> None:
        """The URL's host as aiohttp will connect to it (yarl's normalised, IDNA-encoded host:
        ``１２７.０.０.１`` is ``127.0.0.1`` there), refused when it is a private address."""
        from yarl import URL

        parsed = URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.raw_host:
            raise ValueError("not an http(s) URL")
        if self._allow_private:
            return
        host = parsed.raw_host.rstrip(".").lower()
        try:
            ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            if host == "localhost" or host.endswith(".localhost"):
                raise ForbiddenAddress(f"{host} is a {_FORBIDDEN}") from None
            return
        if not self._is_public(host):
            raise ForbiddenAddress(f"{host} is a {_FORBIDDEN}")

    def _too_large(self, url: str, param: str) -> InvalidRequest:
        return InvalidRequest(
            f"The media at {_safe(url)} is larger than {self._max_bytes} bytes.", param=param, code="invalid_image_url"
        )


def _safe(url: str) -> str:
    """The URL without its query string, which may carry credentials."""
    try:
        parts = urlsplit(url)
    except ValueError:  # malformed: still never show a query string
        return url.split("?", 1)[0][:200]
    return f"{parts.scheme}://{parts.netloc}{parts.path}"

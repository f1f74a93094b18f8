"""The seam under ``GeminiClient``: one request in, one ``Response`` (headers now, body as a stream) out.

``ConnectionPool`` is the real transport (sockets to Gemini); ``ASGITransport`` serves the same
requests from an ASGI app in the same process (the simulator, in tests), in the spirit of httpx's
``MockTransport`` and ``ASGITransport``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Coroutine, Iterable
from typing import Any, Protocol

from gemini_proxy.upstream.http.body import BodyStream


class Response:
    """An answer whose status line and headers have arrived; ``body`` follows."""

    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: dict[str, str], body: BodyStream) -> None:
        self.status = status
        self.headers = headers  # names in lower case; repeated ones joined with ", "
        self.body = body

    # The body's own methods, handed out as they are (no extra frame on the way).
    def read(self) -> Coroutine[Any, Any, bytes]:
        """The whole body."""
        return self.body.read()

    def iter_chunks(self, idle: float | None = None) -> AsyncIterator[bytes]:
        """Body bytes as they arrive (``BodyStream.iter_chunks``)."""
        return self.body.iter_chunks(idle)

    def close(self) -> None:
        """Gives up on the rest of the body."""
        self.body.close()


class Transport(Protocol):
    """Sends one request to one origin. ``target`` is the path and query (appended to the origin's
    base path); failures raise ``HttpError``."""

    async def request(
        self, method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes | None = None
    ) -> Response: ...

    async def close(self) -> None: ...

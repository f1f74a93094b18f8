"""A plain streaming response: chunks go out as they come; ``on_close`` runs however it ends.

Starlette's ``StreamingResponse`` runs each stream inside an anyio task group to watch for
disconnects; here ``api/disconnect.py`` already watches every request, so the stream needs no
watcher of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from starlette.types import Receive, Scope, Send


class StreamResponse:
    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        *,
        media_type: str,
        on_close: Callable[[], None],
        headers: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> None:
        self.chunks = chunks
        self.on_close = on_close
        self.status_code = status_code
        self.raw_headers = [(b"content-type", media_type.encode("latin-1"))]
        self.raw_headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            async for chunk in self.chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            try:
                aclose = getattr(self.chunks, "aclose", None)
                if aclose is not None:
                    await aclose()
            finally:
                # Also when the body never started (the client left first): a generator that never
                # ran has no ``finally`` of its own, and the upstream stream must still be closed.
                self.on_close()

"""Generation: a model's ``generateContent`` and ``streamGenerateContent`` (and the native
surface's other model methods), sent through the gateway with the cache owner's key preferred.

Every surface that generates calls this: the OpenAI and simple surfaces with the Gemini body
they translated (``generate``, ``stream``, ``count_tokens``), the native surface with the client's bytes
(``call_raw``, ``stream_raw``). A stream's events are decoded by ``sse.GeminiEventDecoder``;
``sse.check_event`` tells an error event apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gemini_proxy.upstream import urls
from gemini_proxy.upstream.caches import CachedContents
from gemini_proxy.upstream.gateway import Answer, Gateway, UpstreamStream

_SSE = {"alt": "sse"}


class Generation:
    def __init__(self, gateway: Gateway, caches: CachedContents) -> None:
        self._gateway = gateway
        self._caches = caches

    async def generate(self, model: str, body: bytes, *, gemini_body: Mapping[str, Any]) -> Answer:
        """``generateContent`` with ``body`` (the encoded ``gemini_body``)."""
        prefer = await self._caches.owner_of_request(gemini_body)
        path = urls.model_method(model, urls.GENERATE)
        return await self._gateway.call(model, "POST", path, body=body, prefer=prefer)

    async def stream(self, model: str, body: bytes, *, gemini_body: Mapping[str, Any]) -> UpstreamStream:
        """``streamGenerateContent?alt=sse``, open once Google has answered 200."""
        prefer = await self._caches.owner_of_request(gemini_body)
        path = urls.model_method(model, urls.STREAM)
        return await self._gateway.open_stream(model, path, body=body, query=_SSE, prefer=prefer)

    async def count_tokens(self, model: str, body: bytes) -> Answer:
        """``countTokens`` with ``body`` (a ``{"generateContentRequest": ...}`` body): exact counts."""
        path = urls.model_method(model, urls.COUNT_TOKENS)
        return await self._gateway.call(model, "POST", path, body=body)

    async def call_raw(
        self, model: str, method: str, body: bytes, query: Mapping[str, str] | None, *, version: urls.Version
    ) -> Answer:
        """Any model method with the client's own body (``model`` and ``method`` checked by the caller)."""
        prefer = await self._caches.owner_of_raw(body)
        path = urls.model_method(model, method, version=version)
        return await self._gateway.call(model, "POST", path, body=body, query=query, prefer=prefer)

    async def stream_raw(
        self, model: str, body: bytes, query: Mapping[str, str] | None, *, version: urls.Version
    ) -> UpstreamStream:
        """``streamGenerateContent`` with the client's own body and query (``alt=sse`` or not)."""
        prefer = await self._caches.owner_of_raw(body)
        path = urls.model_method(model, urls.STREAM, version=version)
        return await self._gateway.open_stream(model, path, body=body, query=query, prefer=prefer)

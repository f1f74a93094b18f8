"""The model list: Google's pages read whole and kept for a while, and the native model resources.

``Models.catalog()`` is what a translating surface lists (OpenAI's ``/v1/models``, the coming
Anthropic and Responses surfaces): every page of ``GET /v1beta/models``, cached for ``ttl``
seconds and shared by all surfaces. ``list_page`` and ``get`` pass one native request through.
Listing models spends no generation quota: the pool counts it under its own pseudo-model.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gemini_proxy.upstream import urls
from gemini_proxy.upstream.gateway import Answer, Gateway
from gemini_proxy.upstream.model_names import KnownModels

# The pool's pseudo-model for listing and describing models (their own quota, not a model's).
MODELS_LISTING = "models:list"
MAX_PAGES = 50  # of ``page_size`` (1000) models each



@dataclass(frozen=True, slots=True)
class Catalog:
    """Google's models (``Model`` objects as Google sent them) and when they were fetched (wall time)."""

    models: tuple[dict[str, Any], ...]
    fetched_at: float


class Models:
    def __init__(
        self,
        gateway: Gateway,
        *,
        ttl: float,
        page_size: int = 1000,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        names: KnownModels | None = None,
    ) -> None:
        self._gateway = gateway
        self._names = names
        self._ttl = ttl
        self._page_size = str(page_size)
        self._clock = clock
        self._wall_clock = wall_clock
        self._cached: tuple[float, Catalog] | None = None
        self._lock = asyncio.Lock()

    async def catalog(self) -> Catalog:
        """Every model Google lists, at most ``ttl`` seconds old."""
        cached = self._cached
        if cached is not None and self._clock() - cached[0] < self._ttl:
            return cached[1]
        async with self._lock:  # one refresh at a time: the others wait for its answer
            cached = self._cached
            now = self._clock()
            if cached is not None and now - cached[0] < self._ttl:
                return cached[1]
            catalog = Catalog(tuple(await self._all_pages()), self._wall_clock())
            self._cached = (now, catalog)
            if self._names is not None:  # the models that get state of their own
                self._names.learn(m["name"] for m in catalog.models if isinstance(m.get("name"), str))
            return catalog

    async def _all_pages(self) -> list[dict[str, Any]]:
        models: list[dict[str, Any]] = []
        page_token: str | None = None
        for _ in range(MAX_PAGES):
            query = {"pageSize": self._page_size, **({"pageToken": page_token} if page_token else {})}
            answer = (await self._gateway.call(MODELS_LISTING, "GET", urls.models(), query=query)).json()
            models.extend(m for m in answer.get("models") or [] if isinstance(m, dict))
            token = answer.get("nextPageToken")
            page_token = token if isinstance(token, str) else None
            if not page_token:
                break
        return models

    async def list_page(self, query: Mapping[str, str] | None, *, version: urls.Version = "v1beta") -> Answer:
        """One page of the native list, as Google sent it."""
        return await self._gateway.call(MODELS_LISTING, "GET", urls.models(version), query=query)

    async def get(self, name: str, query: Mapping[str, str] | None, *, version: urls.Version = "v1beta") -> Answer:
        """One model's description, as Google sent it (``name`` checked by the caller)."""
        return await self._gateway.call(MODELS_LISTING, "GET", urls.model(name, version=version), query=query)

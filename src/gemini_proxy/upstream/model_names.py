"""Which model names get state of their own: the pool's per-key counters and cooldowns, and the
metric labels. A client chooses the model name of every request; if each name it sends made state,
a stream of random names would grow every key's record, the status answer and ``/metrics``
without bound. So only models that exist get their own bucket, and every other name is counted
under one, ``(other)``.

A model exists when Google says so: it is in the model list (``GET /v1beta/models``, read through
``upstream/models.py``, whose catalog refreshes this list whenever it is read), or Google served it
(a 2xx answer to a call naming it: an alias such as ``gemini-flash-latest`` or a tuned model). The
first request for a name not known yet reads the model list (``resolve``, through the catalog's
cache: a list younger than its ttl is not read again); reads start at most once per
``refresh_interval``, so a flood of junk names costs one listing a minute, not one per
request. The pool's pseudo-models and the configured names (default model, aliases, the
Claude names) are known from the start. ``limit`` bounds the set itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

from gemini_proxy.errors import ProxyError
from gemini_proxy.upstream.allowed import PSEUDO_MODELS, bare_model

__all__ = ["OTHER", "KnownModels"]

log = logging.getLogger("gemini_proxy.models")

OTHER = "(other)"


class KnownModels:
    def __init__(
        self,
        names: Iterable[str] = (),
        *,
        limit: int = 4096,
        refresh_interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._names: set[str] = set(PSEUDO_MODELS)
        self._limit = limit
        self._refresh_interval = refresh_interval
        self._clock = clock
        self._next_refresh = float("-inf")
        self._lock = asyncio.Lock()
        # Reads the model list and calls ``learn`` with it (``Models.catalog``); set once wired.
        self.refresh: Callable[[], Awaitable[object]] | None = None
        self.learn(names)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bare_model(name) in self._names

    def __len__(self) -> int:
        return len(self._names)

    def bucket(self, name: str) -> str:
        """``name`` (without ``models/``) if it is a known model, else ``OTHER``. ``""`` (no model: a
        request refused before its model was read) stays ``""``."""
        if name in self._names or not name:
            return name
        bare = bare_model(name)
        return bare if bare in self._names else OTHER

    def learn(self, names: Iterable[str]) -> None:
        for name in names:
            if len(self._names) >= self._limit:
                return
            if name:
                self._names.add(bare_model(name))

    async def resolve(self, name: str) -> str:
        """``bucket(name)``, after reading the model list if ``name`` is not known and the list was
        not read for ``refresh_interval`` seconds. A failed read leaves the name in ``OTHER``."""
        bucket = self.bucket(name)
        if bucket != OTHER or self.refresh is None:
            return bucket
        if self._clock() < self._next_refresh and not self._lock.locked():
            return bucket
        async with self._lock:  # requests that come during the read wait for it
            if self._clock() < self._next_refresh:
                return self.bucket(name)
            self._next_refresh = self._clock() + self._refresh_interval
            try:
                await self.refresh()
            except ProxyError as exc:
                log.warning("could not read the model list to check a model name: %s", exc.message)
        return self.bucket(name)

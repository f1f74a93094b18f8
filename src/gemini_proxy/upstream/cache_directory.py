"""Which key created each context cache: a cache is visible only to its own project, so a request
that names one must go to a key of that project (``KeyPool.acquire(prefer=...)``).

Kept in the state store's ``cache`` namespace (shared by workers and replicas), for 30 days.
"""

from __future__ import annotations

from collections.abc import Sequence

from gemini_proxy.state.base import StateStore

__all__ = ["CACHE_TTL", "CacheDirectory"]

CACHE_TTL = 30 * 86400.0


class CacheDirectory:
    def __init__(self, store: StateStore) -> None:
        self._store = store

    async def remember(self, cache_names: Sequence[str], short_id: str) -> None:
        """``short_id``'s key created (or can see) these caches."""
        if cache_names:
            await self._store.put_many("cache", dict.fromkeys(cache_names, short_id), ttl=CACHE_TTL)

    async def owner(self, cache_name: str) -> str | None:
        """The short id of the key that created ``cache_name``, if the proxy knows it."""
        return (await self._store.get_many("cache", [cache_name])).get(cache_name)

"""In-process ``StateStore``: for tests and ``GEMINI_PROXY_DB=""`` (nothing survives a restart).

Several pools may share one instance (tests use that to simulate workers). Its key-value records
(thought signatures, stored responses) are bounded in total size (``max_kv_bytes``): past it the
oldest written go first, as if they had expired.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping, Sequence

from gemini_proxy.state.base import KeyRecord, empty_record, merge_record

__all__ = ["MemoryStore"]


class MemoryStore:
    def __init__(self, *, clock: Callable[[], float] = time.time, max_kv_bytes: int = 256 * 1024 * 1024) -> None:
        self._clock = clock
        self._max_kv_bytes = max_kv_bytes
        self._kv_bytes = 0
        self._records: dict[str, KeyRecord] = {}
        self._versions: dict[str, int] = {}
        self._version = 0
        self._usage: dict[tuple[int, str], int] = {}
        self._kv: dict[tuple[str, str], tuple[str, float | None]] = {}
        self._counts: dict[tuple[str, int], tuple[dict[str, int], float]] = {}  # -> totals, expires
        self._gauges: dict[tuple[str, str], tuple[dict[str, int], float]] = {}

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def load_records(self) -> tuple[list[KeyRecord], int]:
        return [copy.deepcopy(r) for r in self._records.values()], self._version

    async def save_records(self, updates: Sequence[KeyRecord]) -> None:
        now = self._clock()
        for update in updates:
            sid = update["id"]
            self._version += 1
            self._records[sid] = merge_record(self._records.get(sid) or empty_record(sid), update, now)
            self._versions[sid] = self._version

    async def changes_since(self, version: int) -> tuple[list[KeyRecord], int]:
        changed = [copy.deepcopy(self._records[s]) for s, v in self._versions.items() if v > version]
        return changed, self._version

    async def add_usage(self, window: int, counts: Mapping[str, int]) -> dict[str, int]:
        for old in [k for k in self._usage if k[0] < window - 1]:
            del self._usage[old]
        for sid, n in counts.items():
            if n:
                self._usage[(window, sid)] = self._usage.get((window, sid), 0) + n
        return {sid: n for (w, sid), n in self._usage.items() if w == window}

    async def add_counts(
        self, namespace: str, counts: Mapping[int, Mapping[str, int]], *, read: range, ttl: float
    ) -> dict[int, dict[str, int]]:
        now = self._clock()
        for old in [k for k, (_, expires) in self._counts.items() if expires <= now]:
            del self._counts[old]
        for window, added in counts.items():
            totals = self._counts.get((namespace, window), ({}, 0.0))[0]
            for name, n in added.items():
                if n:
                    totals[name] = totals.get(name, 0) + n
            self._counts[(namespace, window)] = (totals, now + ttl)
        found = {window: self._counts.get((namespace, window), ({}, 0.0))[0] for window in read}
        return {window: dict(totals) for window, totals in found.items() if totals}

    async def share_gauges(
        self, namespace: str, member: str, values: Mapping[str, int], *, ttl: float
    ) -> dict[str, int]:
        now = self._clock()
        for old in [k for k, (_, expires) in self._gauges.items() if expires <= now]:
            del self._gauges[old]
        self._gauges[(namespace, member)] = (dict(values), now + ttl)
        summed: dict[str, int] = {}
        for (ns, _), (held, _) in self._gauges.items():
            if ns == namespace:
                for name, n in held.items():
                    if n:
                        summed[name] = summed.get(name, 0) + n
        return summed

    async def put_many(self, namespace: str, items: Mapping[str, str], *, ttl: float | None = None) -> None:
        expires = None if ttl is None else self._clock() + ttl
        for key, value in items.items():
            old = self._kv.pop((namespace, key), None)  # re-inserted: a rewrite is the newest
            if old is not None:
                self._kv_bytes -= len(old[0])
            self._kv[(namespace, key)] = (value, expires)
            self._kv_bytes += len(value)
        while self._kv_bytes > self._max_kv_bytes and self._kv:
            oldest = next(iter(self._kv))
            self._kv_bytes -= len(self._kv.pop(oldest)[0])

    async def get_many(self, namespace: str, keys: Sequence[str]) -> dict[str, str]:
        now = self._clock()
        found: dict[str, str] = {}
        for key in keys:
            entry = self._kv.get((namespace, key))
            if entry is None:
                continue
            value, expires = entry
            if expires is not None and expires <= now:
                del self._kv[(namespace, key)]
                self._kv_bytes -= len(value)
                continue
            found[key] = value
        return found

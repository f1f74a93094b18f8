"""Redis ``StateStore``: key state shared by replicas on several machines.

Layout (``prefix`` defaults to ``gemini-proxy:``)::

    {prefix}key:{short_id}   JSON key record (see base.py)
    {prefix}version          global write counter (INCR)
    {prefix}changed          ZSET short_id -> version of its last write
    {prefix}usage:{minute}   HASH short_id -> requests in that minute (shared RPM limits; EXPIRE 180 s)
    {prefix}kv:{ns}:{key}    string value with PX expiry (thought signatures, cache owners)
    {prefix}count:{ns}:{win} HASH id -> count in that window (per-client limits; EXPIRE ttl)
    {prefix}gauge:{ns}       HASH member|id -> "n expires" (per-client requests in flight)

Atomicity: ``save_records`` runs one Lua script that, per record, reads, merges with the same
rules as ``merge_record`` (later cooldown until wins, later disable/enable timestamp wins,
counters add within a day), bumps the version and indexes the record — no read-modify-write
race between replicas. Usage counts use HINCRBY + EXPIRE.

The pool never calls Redis on its hot path; its sync task does, every 0.25 s. Commands fail
fast when Redis is down (1 s socket timeouts, no client-side retries) so the pool notices,
logs one warning and keeps working on its local view until Redis is back (see pool_sync.py).
Single-instance Redis (or a primary); Redis Cluster is not supported (the script touches
several keys).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis

from gemini_proxy.state.base import KeyRecord, empty_record
from gemini_proxy.state.redis_client import fail_fast_client

__all__ = ["RedisStore"]

USAGE_TTL = 180

MERGE_LUA = """
local now = tonumber(ARGV[1])
local function add(a, b)
  local out = {}
  for i = 1, math.max(#a, #b) do out[i] = (tonumber(a[i]) or 0) + (tonumber(b[i]) or 0) end
  return out
end
for i = 3, #KEYS do
  local u = cjson.decode(ARGV[i - 1])
  local raw = redis.call('GET', KEYS[i])
  local r = {}
  if raw then r = cjson.decode(raw) end
  local o = {id = u.id}
  if u.fp ~= nil and u.fp ~= '' then o.fp = u.fp else o.fp = r.fp or '' end
  local rdis = tonumber(r.dis_at) or 0
  if (tonumber(u.dis_at) or 0) > rdis then
    o.dis_at = u.dis_at; o.dis_reason = u.dis_reason
  else
    o.dis_at = rdis; o.dis_reason = r.dis_reason or ''
  end
  o.en_at = math.max(tonumber(r.en_at) or 0, tonumber(u.en_at) or 0)
  local cd = {}
  for m, v in pairs(r.cd or {}) do
    if tonumber(v[1]) > now then cd[m] = v end
  end
  for m, v in pairs(u.cd or {}) do
    local t = tonumber(v[1])
    if t > now and (cd[m] == nil or t > tonumber(cd[m][1])) then cd[m] = v end
  end
  o.cd = cd
  local uday, rday = u.day or '', r.day or ''
  if uday == '' or uday < rday then
    o.day = rday; o.daily = r.daily or {}
  elseif uday > rday then
    o.day = uday; o.daily = u.daily or {}
  else
    local d = r.daily or {}
    for m, c in pairs(u.daily or {}) do d[m] = add(d[m] or {0, 0, 0, 0}, c) end
    o.day = rday; o.daily = d
  end
  o.tot = add(r.tot or {0, 0, 0, 0}, u.tot or {0, 0, 0, 0})
  local version = redis.call('INCR', KEYS[1])
  redis.call('SET', KEYS[i], cjson.encode(o))
  redis.call('ZADD', KEYS[2], version, u.id)
end
return 1
"""


def _record(raw: str) -> KeyRecord:
    rec = empty_record("")
    rec.update(json.loads(raw))
    for field in ("cd", "daily"):  # Lua's cjson writes an empty table as {} or []
        if not isinstance(rec[field], dict):
            rec[field] = {}
    return rec


class RedisStore:
    def __init__(
        self,
        url: str,
        *,
        prefix: str = "gemini-proxy:",
        timeout: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.prefix = prefix
        self._clock = clock
        self._redis: aioredis.Redis = fail_fast_client(url, timeout=timeout)
        self._merge = self._redis.register_script(MERGE_LUA)

    def _k(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    async def open(self) -> None:
        """Nothing to do: connections are made on demand (an outage at startup is not fatal)."""

    async def close(self) -> None:
        await self._redis.aclose()

    async def _records(self, ids: Sequence[str]) -> list[KeyRecord]:
        if not ids:
            return []
        raws = await self._redis.mget([self._k("key", sid) for sid in ids])
        return [_record(str(raw)) for raw in raws if raw]

    async def load_records(self) -> tuple[list[KeyRecord], int]:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(self._k("version"))
            pipe.zrange(self._k("changed"), 0, -1)
            version, ids = await pipe.execute()
        return await self._records(ids), int(version or 0)

    async def changes_since(self, version: int) -> tuple[list[KeyRecord], int]:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(self._k("version"))
            pipe.zrangebyscore(self._k("changed"), f"({version}", "+inf")
            current, ids = await pipe.execute()
        return await self._records(ids), int(current or 0)

    async def save_records(self, updates: Sequence[KeyRecord]) -> None:
        if not updates:
            return
        keys = [self._k("version"), self._k("changed"), *(self._k("key", u["id"]) for u in updates)]
        args: list[Any] = [repr(self._clock()), *(json.dumps(u, separators=(",", ":")) for u in updates)]
        await self._merge(keys=keys, args=args)

    async def add_usage(self, window: int, counts: Mapping[str, int]) -> dict[str, int]:
        key = self._k("usage", str(window))
        async with self._redis.pipeline(transaction=True) as pipe:
            for sid, n in counts.items():
                if n:
                    pipe.hincrby(key, sid, n)
            pipe.expire(key, USAGE_TTL)
            pipe.hgetall(key)
            results = await pipe.execute()
        totals: dict[str, str] = results[-1]
        return {sid: int(n) for sid, n in totals.items()}

    async def add_counts(
        self, namespace: str, counts: Mapping[int, Mapping[str, int]], *, read: range, ttl: float
    ) -> dict[int, dict[str, int]]:
        async with self._redis.pipeline(transaction=True) as pipe:
            for window, added in counts.items():
                key = self._k("count", namespace, str(window))
                for name, n in added.items():
                    if n:
                        pipe.hincrby(key, name, n)
                pipe.expire(key, max(1, int(ttl)))
            for window in read:
                pipe.hgetall(self._k("count", namespace, str(window)))
            results = await pipe.execute()
        found: list[dict[str, str]] = results[len(results) - len(read) :]
        return {w: {name: int(n) for name, n in t.items()} for w, t in zip(read, found, strict=True) if t}

    async def share_gauges(
        self, namespace: str, member: str, values: Mapping[str, int], *, ttl: float
    ) -> dict[str, int]:
        # One hash per namespace, a field per (member, id) holding "n expires". A member writes
        # every id it ever reported (0 when idle), so nothing of its own goes stale; a member that
        # stopped writing is dropped once its fields expire (replicas' clocks within ``ttl``).
        key = self._k("gauge", namespace)
        now = self._clock()
        async with self._redis.pipeline(transaction=True) as pipe:
            if values:
                pipe.hset(key, mapping={f"{member}|{name}": f"{n} {now + ttl}" for name, n in values.items()})
            pipe.expire(key, max(1, int(ttl * 4)))
            pipe.hgetall(key)
            results = await pipe.execute()
        summed: dict[str, int] = {}
        expired = []
        for field, value in results[-1].items():
            n, expires = value.split(" ")
            if float(expires) <= now:
                expired.append(field)
                continue
            if n != "0":
                name = field.split("|", 1)[1]
                summed[name] = summed.get(name, 0) + int(n)
        if expired:
            await self._redis.hdel(key, *expired)
        return summed

    async def put_many(self, namespace: str, items: Mapping[str, str], *, ttl: float | None = None) -> None:
        if not items:
            return
        px = None if ttl is None else max(1, int(ttl * 1000))
        async with self._redis.pipeline(transaction=False) as pipe:
            for key, value in items.items():
                pipe.set(self._k("kv", namespace, key), value, px=px)
            await pipe.execute()

    async def get_many(self, namespace: str, keys: Sequence[str]) -> dict[str, str]:
        if not keys:
            return {}
        wanted = list(dict.fromkeys(keys))
        values = await self._redis.mget([self._k("kv", namespace, k) for k in wanted])
        return {k: str(v) for k, v in zip(wanted, values, strict=True) if v is not None}

"""Redis ``JobStore``: replicas on several machines share one job queue.

Layout (``prefix`` defaults to ``gemini-proxy:``, like the key state)::

    {prefix}job:{id}             HASH  the job: scalar fields as strings, spec and outcome as JSON
    {prefix}jobs:all             ZSET  id -> created_at (listing, newest first)
    {prefix}jobs:status:{s}      ZSET  id -> created_at, one per status (listing by status, counts)
    {prefix}jobs:ready           ZSET  id -> ready_at of queued jobs (claim order)
    {prefix}jobs:lease           ZSET  id -> lease_until of running jobs (takeover of dead replicas)
    {prefix}jobs:done            ZSET  id -> finished_at of finished jobs (retention)
    {prefix}jobs:client:{c}:{s}  ZSET  id -> created_at, per client and status (a client's counts
                                       and its limit of jobs queued or running)

The hash keeps the job's client in a scalar field ``client`` for the scripts (a job made before
that field has none and is in no client's set: it is not counted against anyone's limit).

Every change of status is one Lua script (create, claim, update, cancel, purge), so the job and
its indexes move together and two replicas never claim the same job. The scripts only touch
scalar fields: ``spec`` and ``outcome`` stay JSON written by Python (Lua's cjson would turn a
client's empty list into an object). Single Redis (or a primary); Redis Cluster is not
supported, as for the key state.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gemini_proxy.state.jobs import (
    STATUSES,
    Job,
    JobStatus,
    JobStoreError,
    TooManyActiveJobs,
    check_list_args,
    dump_json,
    job_client,
)
from gemini_proxy.state.redis_client import fail_fast_client

__all__ = ["RedisJobStore"]

_MOVE = """
local function move(p, id, created, from, to, ready, lease, finished, client)
  if from then
    redis.call('ZREM', p .. 'jobs:status:' .. from, id)
    redis.call('ZREM', p .. 'jobs:ready', id)
    redis.call('ZREM', p .. 'jobs:lease', id)
    if client then redis.call('ZREM', p .. 'jobs:client:' .. client .. ':' .. from, id) end
  end
  redis.call('ZADD', p .. 'jobs:status:' .. to, created, id)
  if client then redis.call('ZADD', p .. 'jobs:client:' .. client .. ':' .. to, created, id) end
  if to == 'queued' then redis.call('ZADD', p .. 'jobs:ready', ready, id)
  elseif to == 'running' then redis.call('ZADD', p .. 'jobs:lease', lease, id)
  else redis.call('ZADD', p .. 'jobs:done', finished, id) end
end
"""

CREATE_LUA = _MOVE + """
local p, id, client, max_active = ARGV[1], ARGV[2], ARGV[8], tonumber(ARGV[9])
local key = p .. 'job:' .. id
if redis.call('EXISTS', key) == 1 then return 0 end
if max_active > 0 then
  local active = redis.call('ZCARD', p .. 'jobs:client:' .. client .. ':queued')
    + redis.call('ZCARD', p .. 'jobs:client:' .. client .. ':running')
  if active >= max_active then return -1 - active end
end
redis.call('HSET', key, unpack(ARGV, 10))
redis.call('ZADD', p .. 'jobs:all', ARGV[3], id)
move(p, id, ARGV[3], false, ARGV[4], ARGV[5], ARGV[6], ARGV[7], client)
return 1
"""

CLAIM_LUA = _MOVE + """
local p, owner, now, lease, limit = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local ids = redis.call('ZRANGEBYSCORE', p .. 'jobs:ready', '-inf', now, 'LIMIT', 0, limit)
if #ids < limit then
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', p .. 'jobs:lease', '-inf', now, 'LIMIT', 0, limit - #ids)) do
    table.insert(ids, id)
  end
end
local claimed = {}
for _, id in ipairs(ids) do
  local key = p .. 'job:' .. id
  local cur = redis.call('HMGET', key, 'status', 'created_at', 'started_at', 'client')
  if cur[1] == 'queued' or cur[1] == 'running' then
    move(p, id, cur[2], cur[1], 'running', '', lease, '', cur[4])
    redis.call('HSET', key, 'status', 'running', 'owner', owner, 'lease_until', lease, 'updated_at', now)
    if cur[3] == '' then redis.call('HSET', key, 'started_at', now) end
    table.insert(claimed, id)
  else  -- a stale index entry
    redis.call('ZREM', p .. 'jobs:ready', id)
    redis.call('ZREM', p .. 'jobs:lease', id)
  end
end
return claimed
"""

UPDATE_LUA = _MOVE + """
local p, id, owner = ARGV[1], ARGV[2], ARGV[3]
local key = p .. 'job:' .. id
local cur = redis.call('HMGET', key, 'status', 'owner', 'created_at', 'client')
if cur[1] ~= 'running' or cur[2] ~= owner then return 0 end
redis.call('HSET', key, unpack(ARGV, 8))
move(p, id, cur[3], 'running', ARGV[4], ARGV[5], ARGV[6], ARGV[7], cur[4])
return 1
"""

CANCEL_LUA = _MOVE + """
local p, id, now = ARGV[1], ARGV[2], ARGV[3]
local key = p .. 'job:' .. id
local cur = redis.call('HMGET', key, 'status', 'created_at', 'client')
if not cur[1] then return -1 end
if cur[1] ~= 'queued' and cur[1] ~= 'running' then return 0 end
redis.call('HSET', key, 'status', 'cancelled', 'finished_at', now, 'updated_at', now, 'owner', '', 'lease_until', '0')
move(p, id, cur[2], cur[1], 'cancelled', '', '', now, cur[3])
return 1
"""

PURGE_LUA = """
local p, before, batch = ARGV[1], ARGV[2], tonumber(ARGV[3])
local ids = redis.call('ZRANGEBYSCORE', p .. 'jobs:done', '-inf', '(' .. before, 'LIMIT', 0, batch)
for _, id in ipairs(ids) do
  local key = p .. 'job:' .. id
  local cur = redis.call('HMGET', key, 'status', 'client')
  if cur[1] then redis.call('ZREM', p .. 'jobs:status:' .. cur[1], id) end
  if cur[1] and cur[2] then redis.call('ZREM', p .. 'jobs:client:' .. cur[2] .. ':' .. cur[1], id) end
  redis.call('DEL', key)
  redis.call('ZREM', p .. 'jobs:all', id)
  redis.call('ZREM', p .. 'jobs:done', id)
end
return #ids
"""

PURGE_BATCH = 500


def _num(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _mutable(job: Job) -> list[str]:
    """The field/value pairs that ``update`` may change."""
    return [
        "status", job.status, "updated_at", _num(job.updated_at), "ready_at", _num(job.ready_at),
        "started_at", _num(job.started_at), "finished_at", _num(job.finished_at), "owner", job.owner,
        "lease_until", _num(job.lease_until), "attempts", str(job.attempts), "outcome", dump_json(job.outcome),
    ]


def _fields(job: Job) -> list[str]:
    return [
        "id", job.id, "agent", job.agent, "model", job.model, "created_at", _num(job.created_at),
        "client", job_client(job), "spec", dump_json(job.spec), *_mutable(job),
    ]


def _opt(value: str) -> float | None:
    return float(value) if value else None


def _job(h: dict[str, str]) -> Job:
    return Job(
        id=h["id"], agent=h["agent"], model=h["model"], status=cast(JobStatus, h["status"]),
        created_at=float(h["created_at"]), updated_at=float(h["updated_at"]), ready_at=float(h["ready_at"]),
        started_at=_opt(h["started_at"]),
        finished_at=_opt(h["finished_at"]), owner=h["owner"], lease_until=float(h["lease_until"] or 0),
        attempts=int(h["attempts"]), spec=json.loads(h["spec"]), outcome=json.loads(h["outcome"]),
    )


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except (RedisError, OSError) as exc:
        raise JobStoreError(f"Redis: {type(exc).__name__}: {exc}") from exc


class RedisJobStore:
    def __init__(self, url: str, *, prefix: str = "gemini-proxy:", timeout: float = 2.0) -> None:
        self.prefix = prefix
        self._redis: aioredis.Redis = fail_fast_client(url, timeout=timeout)
        self._create = self._redis.register_script(CREATE_LUA)
        self._claim = self._redis.register_script(CLAIM_LUA)
        self._update = self._redis.register_script(UPDATE_LUA)
        self._cancel = self._redis.register_script(CANCEL_LUA)
        self._purge = self._redis.register_script(PURGE_LUA)

    async def open(self) -> None:
        """Nothing to do: connections are made on demand (an outage at startup is not fatal)."""

    async def close(self) -> None:
        await self._redis.aclose()

    def _key(self, job_id: str) -> str:
        return f"{self.prefix}job:{job_id}"

    async def _get_many(self, ids: Sequence[str]) -> list[Job]:
        if not ids:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hgetall(self._key(job_id))
            found: list[dict[str, str]] = await pipe.execute()
        return [_job(h) for h in found if h]

    async def create(self, job: Job, *, max_active: int | None = None) -> tuple[Job, bool]:
        args: list[str | int] = [
            self.prefix, job.id, _num(job.created_at), job.status, _num(job.ready_at), _num(job.lease_until),
            _num(job.finished_at), job_client(job), max_active or 0, *_fields(job),
        ]
        with _errors():
            result = int(await self._create(args=args))
            if result == 1:
                return job, True
            if result < 0:
                raise TooManyActiveJobs(-1 - result)
            (existing,) = await self._get_many([job.id])
        return existing, False

    async def get(self, job_id: str) -> Job | None:
        with _errors():
            found = await self._get_many([job_id])
        return found[0] if found else None

    async def recent(
        self, *, status: str | None = None, agent: str | None = None, limit: int = 20, client: str | None = None
    ) -> list[Job]:
        check_list_args(status, limit)
        index = f"{self.prefix}jobs:status:{status}" if status else f"{self.prefix}jobs:all"
        batch = limit if agent is None and client is None else max(limit, 200)
        found: list[Job] = []
        start = 0
        with _errors():
            while len(found) < limit:
                ids = [str(i) for i in await self._redis.zrevrange(index, start, start + batch - 1)]
                if not ids:
                    break
                found += [
                    j
                    for j in await self._get_many(ids)
                    if (agent is None or j.agent == agent) and (client is None or job_client(j) == client)
                ]
                start += batch
        return found[:limit]

    async def counts(self, client: str | None = None) -> dict[str, int]:
        index = f"{self.prefix}jobs:status:" if client is None else f"{self.prefix}jobs:client:{client}:"
        with _errors():
            async with self._redis.pipeline(transaction=False) as pipe:
                for status in STATUSES:
                    pipe.zcard(index + status)
                sizes = await pipe.execute()
        return {status: int(n) for status, n in zip(STATUSES, sizes, strict=True)}

    async def claim(self, owner: str, now: float, lease_until: float, limit: int) -> list[Job]:
        with _errors():
            ids = await self._claim(args=[self.prefix, owner, _num(now), _num(lease_until), limit])
            return await self._get_many(ids)

    async def update(self, job: Job, owner: str) -> bool:
        args: list[Any] = [
            self.prefix, job.id, owner, job.status, _num(job.ready_at), _num(job.lease_until),
            _num(job.finished_at), *_mutable(job),
        ]
        with _errors():
            return bool(await self._update(args=args))

    async def cancel(self, job_id: str, now: float) -> tuple[Job | None, bool]:
        with _errors():
            result = await self._cancel(args=[self.prefix, job_id, _num(now)])
            return await self.get(job_id), result == 1

    async def purge(self, finished_before: float) -> int:
        total = 0
        with _errors():
            while True:
                n = int(await self._purge(args=[self.prefix, _num(finished_before), PURGE_BATCH]))
                total += n
                if n < PURGE_BATCH:
                    return total

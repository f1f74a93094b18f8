"""The Redis client of the Redis stores (``redis.py``, ``jobs_redis.py``): one that fails fast.

Socket and connect timeouts of ``timeout`` seconds and no client-side retries, so a command
fails at once when Redis is down and the caller (the pool's sync, the job runner) notices and
keeps working without it; connections are made on demand (an outage at startup is not fatal).
Responses are decoded to ``str``.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

__all__ = ["fail_fast_client"]


def fail_fast_client(url: str, *, timeout: float) -> aioredis.Redis:
    return aioredis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=10,
    )

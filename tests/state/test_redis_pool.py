"""KeyPool on a real Redis: replicas share state; an outage degrades to the local view, then resyncs."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest

from gemini_proxy.state.redis import RedisStore
from gemini_proxy.upstream.keys import ApiKey
from gemini_proxy.upstream.pool import KeyPool
from gemini_proxy.upstream.quota import InvalidKey, RateLimited, Success
from tests.servers import RedisServer

M = "gemini-2.5-flash"
KEYS = [ApiKey("test-key-1", "k1"), ApiKey("test-key-2", "k2"), ApiKey("test-key-3", "k3")]


async def replica(server: RedisServer, **kw: Any) -> KeyPool:
    pool = KeyPool(KEYS, RedisStore(server.url, timeout=0.5), sync_interval=0.1, **kw)
    await pool.start()
    return pool


async def shutdown(*pools: KeyPool) -> None:
    for pool in pools:
        await pool.close()
        await pool.store.close()


def states(pool: KeyPool) -> dict[str, str]:
    return {s["key"]: s["state"] for s in pool.snapshot()}


async def eventually(check: Callable[[], bool], within: float) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > within:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(0.02)
    return time.monotonic() - start


async def use(pool: KeyPool, sid: str, outcome: Any) -> None:
    lease = await pool.acquire(M, prefer=sid)
    assert lease.key.short_id == sid
    pool.release(lease, outcome)


async def test_replicas_share_cooldown_and_disabled(redis_server: RedisServer) -> None:
    a = await replica(redis_server)
    b = await replica(redis_server)
    try:
        await use(a, "k1", RateLimited(60.0))
        await use(a, "k2", InvalidKey("API_KEY_INVALID"))
        await use(a, "k3", Success(5, 5))
        await eventually(lambda: states(b) == {"k1": "cooling_down", "k2": "disabled", "k3": "active"}, 1.0)
        assert {(await b.acquire(M)).key.short_id for _ in range(6)} == {"k3"}
        await eventually(lambda: b.snapshot()[2]["totals"]["requests"] == 1, 1.0)
        b.enable("k2")
        await eventually(lambda: states(a)["k2"] == "active", 1.0)
    finally:
        await shutdown(a, b)
    # a fresh replica (restart) loads everything
    c = await replica(redis_server)
    try:
        assert states(c) == {"k1": "cooling_down", "k2": "active", "k3": "active"}
    finally:
        await shutdown(c)


async def test_shared_rpm_limit(redis_server: RedisServer) -> None:
    if time.time() % 60 > 55:  # the per-minute counts start afresh at the minute: not in the middle of the test
        await asyncio.sleep(60 - time.time() % 60 + 0.1)
    a = await replica(redis_server, rpm_per_key=2)
    b = await replica(redis_server, rpm_per_key=2)
    try:
        for _ in range(3):  # 3 of the 3 keys x 2 RPM budget, spread by round robin
            a.release(await a.acquire(M), Success())
        # a reports its usage, b learns it (as their sync tasks do every 0.1 s).
        await a.sync()
        await b.sync()
        for _ in range(3):
            b.release(await b.acquire(M), Success())
        from gemini_proxy.errors import NoKeyAvailable

        with pytest.raises(NoKeyAvailable, match="busy"):
            await b.acquire(M)
    finally:
        await shutdown(a, b)


async def test_outage_degrades_then_resyncs(redis_server: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "gemini_proxy.pool")
    a = await replica(redis_server)
    b = await replica(redis_server)
    try:
        redis_server.stop()
        await eventually(lambda: caplog.text.count("degraded mode") >= 2, 2.0)
        # a keeps serving from its local view; acquire/release never raise
        for _ in range(30):
            a.release(await a.acquire(M), Success(1, 1))
        await use(a, "k1", RateLimited(60.0))
        assert {(await a.acquire(M)).key.short_id for _ in range(6)} == {"k2", "k3"}
        warnings = [r for r in caplog.records if "degraded mode" in r.getMessage()]
        assert len(warnings) == 2  # one per replica, not one per failed sync (0.1 s)
        assert all(r.levelno == logging.WARNING for r in warnings)

        redis_server.start()  # empty: no persistence
        await eventually(lambda: "reachable again" in caplog.text, 3.0)
        await eventually(lambda: states(b)["k1"] == "cooling_down", 2.0)  # a pushed its view on resync
        assert {(await b.acquire(M)).key.short_id for _ in range(6)} == {"k2", "k3"}
        for key in KEYS:
            assert key.secret not in caplog.text
    finally:
        await shutdown(a, b)

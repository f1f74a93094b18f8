"""Waiting (max_wait), per-key concurrency and requests-per-minute limits."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest

from gemini_proxy.errors import NoKeyAvailable
from gemini_proxy.state.memory import MemoryStore
from gemini_proxy.upstream.pool import KeyPool
from gemini_proxy.upstream.quota import RateLimited, Success
from tests.upstream.conftest import FakeClock, fake_keys

M = "gemini-2.5-flash"


async def test_max_wait_waits_for_cooldown_then_succeeds() -> None:
    pool = KeyPool(fake_keys(1), MemoryStore())
    lease = await pool.acquire(M)
    pool.release(lease, RateLimited(0.2))
    with pytest.raises(NoKeyAvailable):
        await pool.acquire(M, max_wait=0.05)  # frees in 0.2 s: too late for 0.05, no waiting at all
    start = time.monotonic()
    lease = await pool.acquire(M, max_wait=1.0)
    waited = time.monotonic() - start
    assert 0.1 <= waited < 0.6


async def test_max_wait_gives_up_fast_when_too_far() -> None:
    pool = KeyPool(fake_keys(1), MemoryStore())
    pool.release(await pool.acquire(M), RateLimited(30.0))
    start = time.monotonic()
    with pytest.raises(NoKeyAvailable) as info:
        await pool.acquire(M, max_wait=2.0)
    assert time.monotonic() - start < 0.05
    assert 29 < info.value.retry_after <= 30


async def test_fake_clock_wait_terminates() -> None:
    clock = FakeClock()  # never advances: the wait must still end at the real max_wait
    pool = KeyPool(fake_keys(1), MemoryStore(clock=clock), clock=clock)
    pool.release(await pool.acquire(M), RateLimited(0.01))
    with pytest.raises(NoKeyAvailable):
        await pool.acquire(M, max_wait=0.1)


async def test_concurrency_limit_busy_then_waits_for_release(clock: FakeClock) -> None:
    keys = fake_keys(2)
    pool = KeyPool(keys, MemoryStore(clock=clock), clock=clock, max_concurrency_per_key=2)
    leases = [await pool.acquire(M) for _ in range(4)]
    assert sorted(lease.key.short_id for lease in leases) == sorted([k.short_id for k in keys] * 2)
    with pytest.raises(NoKeyAvailable, match="busy") as info:
        await pool.acquire(M)
    assert info.value.retry_after == 1.0

    async def release_later() -> None:
        await asyncio.sleep(0.05)
        pool.release(leases[1], Success())

    task = asyncio.create_task(release_later())
    lease = await pool.acquire(M, max_wait=1.0)
    await task
    assert lease.key == leases[1].key
    assert pool.counts()["in_flight"] == 4


async def test_concurrency_limit_waiters_all_served() -> None:
    pool = KeyPool(fake_keys(2), MemoryStore(), max_concurrency_per_key=1)
    served: list[str] = []

    async def request() -> None:
        lease = await pool.acquire(M, max_wait=2.0)
        await asyncio.sleep(0.01)
        served.append(lease.key.short_id)
        pool.release(lease, Success())

    await asyncio.gather(*(request() for _ in range(20)))
    assert len(served) == 20
    assert pool.counts()["in_flight"] == 0


async def test_rpm_limit(clock: FakeClock) -> None:
    keys = fake_keys(2)
    pool = KeyPool(keys, MemoryStore(clock=clock), clock=clock, rpm_per_key=3)
    for _ in range(6):
        pool.release(await pool.acquire(M), Success())
        clock.advance(1)
    with pytest.raises(NoKeyAvailable, match="busy") as info:
        await pool.acquire(M)
    assert info.value.retry_after == pytest.approx(54.0)  # the first request leaves the minute window
    assert pool.snapshot()[0]["state"] == "active"  # busy is not cooling
    clock.advance(54)
    pool.release(await pool.acquire(M), Success())


@contextlib.asynccontextmanager
async def two_replicas(store: MemoryStore, clock: FakeClock) -> AsyncIterator[tuple[KeyPool, KeyPool]]:
    """Two pools with one key and a limit of 4 per minute, sharing ``store``; synced by hand."""
    a = KeyPool(fake_keys(1), store, clock=clock, rpm_per_key=4, sync_interval=3600)
    b = KeyPool(fake_keys(1), store, clock=clock, rpm_per_key=4, sync_interval=3600)
    await a.start()
    await b.start()
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


async def test_rpm_shared_between_pools_through_store(clock: FakeClock) -> None:
    async with two_replicas(MemoryStore(clock=clock), clock) as (a, b):
        for _ in range(3):
            a.release(await a.acquire(M), Success())
        await a.sync()
        await b.sync()
        b.release(await b.acquire(M), Success())  # 3 by a + 1 by b = the limit of 4
        with pytest.raises(NoKeyAvailable):
            await b.acquire(M)


class _FlakyStore(MemoryStore):
    """A shared store that can go down."""

    down = False

    async def save_records(self, updates):  # type: ignore[no-untyped-def]
        if self.down:
            raise ConnectionError("store down")
        await super().save_records(updates)

    async def add_usage(self, window, counts):  # type: ignore[no-untyped-def]
        if self.down:
            raise ConnectionError("store down")
        return await super().add_usage(window, counts)


async def test_other_replicas_usage_expires_with_its_minute_even_when_the_store_is_down(clock: FakeClock) -> None:
    store = _FlakyStore(clock=clock)
    async with two_replicas(store, clock) as (a, b):
        for _ in range(4):
            a.release(await a.acquire(M), Success())
        await a.sync()
        await b.sync()
        with pytest.raises(NoKeyAvailable):  # a used the whole minute
            await b.acquire(M)
        store.down = True
        clock.advance(61)
        await b.sync()  # fails to reach the store, but the minute is over
        b.release(await b.acquire(M), Success())
        store.down = False  # lets the pools flush on close

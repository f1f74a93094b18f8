"""acquire+release must stay well under 20 µs with 50 keys (no I/O on the hot path)."""

from __future__ import annotations

import time

from gemini_proxy.state.memory import MemoryStore
from gemini_proxy.upstream.pool import KeyPool
from gemini_proxy.upstream.quota import RateLimited, Success
from tests.upstream.conftest import fake_keys

M = "gemini-2.5-flash"


async def _per_call(pool: KeyPool, n: int = 2000) -> float:
    best = float("inf")
    ok = Success(10, 10)
    for _ in range(5):  # best of 5: robust against a busy CI machine
        start = time.perf_counter()
        for _ in range(n):
            pool.release(await pool.acquire(M), ok)
        best = min(best, (time.perf_counter() - start) / n)
    return best


async def test_acquire_release_fast_with_50_keys() -> None:
    pool = KeyPool(fake_keys(50), MemoryStore())
    plain = await _per_call(pool)
    for _ in range(10):  # some keys cooling: the scan skips them
        pool.release(await pool.acquire(M), RateLimited(3600.0))
    limited = KeyPool(fake_keys(50), MemoryStore(), max_concurrency_per_key=4, rpm_per_key=100_000)
    cooling = await _per_call(pool)
    with_limits = await _per_call(limited)
    print(
        f"\nacquire+release, 50 keys: {plain * 1e6:.2f} µs plain, {cooling * 1e6:.2f} µs with 10 keys cooling, "
        f"{with_limits * 1e6:.2f} µs with concurrency+RPM limits"
    )
    assert plain < 20e-6
    assert cooling < 20e-6
    assert with_limits < 20e-6

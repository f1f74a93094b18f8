"""Outlier ejection in the pool: a key that keeps failing while others succeed is benched, for a
time that doubles while it keeps failing, and comes back on its own; an outage benches none.
Driven by an injected clock (no real waiting)."""

from __future__ import annotations

from collections import Counter

import pytest

from gemini_proxy.errors import NoKeyAvailable
from gemini_proxy.state.memory import MemoryStore
from gemini_proxy.upstream.keys import ApiKey
from gemini_proxy.upstream.outliers import BENCH_AFTER, BENCH_BASE, BENCH_MAX
from gemini_proxy.upstream.pool import KeyPool
from gemini_proxy.upstream.quota import ClientFault, Outcome, RateLimited, Success, Transient
from tests.upstream.conftest import FakeClock, fake_keys

M = "gemini-2.5-flash"
FAIL = Transient("503 UNAVAILABLE")


def make_pool(keys: list[ApiKey], clock: FakeClock) -> KeyPool:
    return KeyPool(keys, MemoryStore(clock=clock), clock=clock)


async def serve(pool: KeyPool, bad: set[str], rounds: int, clock: FakeClock, step: float = 0.01) -> Counter[str]:
    """``rounds`` requests; a bad key's answer is a server error, any other key's a success."""
    seen: Counter[str] = Counter()
    for _ in range(rounds):
        lease = await pool.acquire(M)
        seen[lease.short_id] += 1
        clock.advance(step)
        outcome: Outcome = FAIL if lease.short_id in bad else Success(1, 1)
        pool.release(lease, outcome)
    return seen


def benched(pool: KeyPool) -> dict[str, dict[str, object]]:
    return {entry["key"]: entry["benched"] for entry in pool.snapshot() if entry["benched"]}


async def test_a_key_failing_alone_is_benched_and_comes_back(clock: FakeClock) -> None:
    keys = fake_keys(4)
    pool = make_pool(keys, clock)
    bad = keys[0].short_id
    seen = await serve(pool, {bad}, 4 * BENCH_AFTER, clock)
    assert seen[bad] == BENCH_AFTER  # its share until the fifth failure in a row
    assert pool.is_benched(bad)
    bench = benched(pool)[bad]
    assert bench["until"] == pytest.approx(clock.now + BENCH_BASE - 0.01, abs=0.02)
    assert "5 failures in a row" in str(bench["reason"]) and "503 UNAVAILABLE" in str(bench["reason"])
    assert pool.counts()["benched"] == 1 and pool.counts()["available"] == 3

    seen = await serve(pool, {bad}, 30, clock, step=0.0)  # while benched: the others share its load
    assert bad not in seen and sorted(seen.values()) == [10, 10, 10]

    clock.advance(BENCH_BASE)  # back on its own
    assert not pool.is_benched(bad) and benched(pool) == {}
    seen = await serve(pool, set(), 40, clock, step=0.0)
    assert seen[bad] == 10


async def test_the_bench_doubles_while_the_key_keeps_failing_up_to_a_cap(clock: FakeClock) -> None:
    keys = fake_keys(2)
    pool = make_pool(keys, clock)
    bad, good = keys[0].short_id, keys[1].short_id
    await serve(pool, {bad}, 2 * BENCH_AFTER, clock)
    lengths = []
    for _ in range(8):
        assert pool.is_benched(bad)
        lengths.append(round(benched(pool)[bad]["until"] - clock.now, 1))  # type: ignore[operator]
        clock.advance(BENCH_MAX)
        await serve(pool, {bad}, 2, clock, step=0.0)  # it returns, fails once more: benched at once
    assert lengths[:5] == [BENCH_BASE, 2 * BENCH_BASE, 4 * BENCH_BASE, 8 * BENCH_BASE, 16 * BENCH_BASE]
    assert max(lengths) == BENCH_MAX
    # One success clears it: the next bench needs a new run of failures and is short again.
    clock.advance(BENCH_MAX)
    pool.release(await pool.acquire(M, exclude=frozenset({good})), Success())
    await serve(pool, {bad}, 2 * BENCH_AFTER - 2, clock)
    assert not pool.is_benched(bad)
    await serve(pool, {bad}, 2, clock)
    assert benched(pool)[bad]["until"] == pytest.approx(clock.now + BENCH_BASE, abs=0.02)


async def test_a_model_wide_outage_benches_no_key(clock: FakeClock) -> None:
    keys = fake_keys(4)
    pool = make_pool(keys, clock)
    await serve(pool, {k.short_id for k in keys}, 10 * BENCH_AFTER, clock)
    assert benched(pool) == {} and pool.counts()["benched"] == 0


async def test_a_success_sent_before_the_failures_began_does_not_count(clock: FakeClock) -> None:
    """A slow success that was sent before the outage does not make the failing keys outliers."""
    keys = fake_keys(3)
    pool = make_pool(keys, clock)
    early = await pool.acquire(M)
    clock.advance(1.0)
    await serve(pool, {k.short_id for k in keys}, 3 * BENCH_AFTER, clock)
    pool.release(early, Success())
    await serve(pool, {k.short_id for k in keys}, 3, clock)
    assert benched(pool) == {}


async def test_a_straggler_s_success_does_not_end_its_key_s_run_of_failures(clock: FakeClock) -> None:
    """A success sent before the key began failing, told after its first failures (a call
    answered before them and counted a turn later), does not reset the key's count."""
    keys = fake_keys(2)
    pool = make_pool(keys, clock)
    bad, good = keys[0].short_id, keys[1].short_id
    straggler = await pool.acquire(M, exclude=frozenset({good}))
    clock.advance(0.01)
    for failure in range(BENCH_AFTER):
        if failure == 1:
            pool.release(straggler, Success())
        pool.release(await pool.acquire(M, exclude=frozenset({good})), FAIL)
        pool.release(await pool.acquire(M, exclude=frozenset({bad})), Success())
        clock.advance(0.01)
    assert pool.is_benched(bad)


async def test_at_most_half_the_keys_are_benched(clock: FakeClock) -> None:
    keys = fake_keys(4)
    pool = make_pool(keys, clock)
    bad = {k.short_id for k in keys[:3]}
    await serve(pool, bad, 20 * BENCH_AFTER, clock)
    assert len(benched(pool)) == 2


@pytest.mark.parametrize("outcome", [RateLimited(5.0), ClientFault()], ids=["429", "client fault"])
async def test_only_server_errors_and_timeouts_count(clock: FakeClock, outcome: Outcome) -> None:
    keys = fake_keys(2)
    pool = make_pool(keys, clock)
    first, second = (k.short_id for k in keys)
    for _ in range(3 * BENCH_AFTER):
        pool.release(await pool.acquire(M, exclude=frozenset({second})), outcome)
        clock.advance(0.01)
        pool.release(await pool.acquire(M, exclude=frozenset({first})), Success())
        clock.advance(60.0)  # past any cooldown
    assert benched(pool) == {}


async def test_a_benched_cache_owner_makes_the_request_wait_not_go_elsewhere(clock: FakeClock) -> None:
    keys = [ApiKey("test-key-a-secretpart", label="a", project="p1"), ApiKey("test-key-b-secretpart", label="b")]
    pool = make_pool(keys, clock)
    await serve(pool, {"a"}, 4 * BENCH_AFTER, clock)
    assert pool.is_benched("a")
    with pytest.raises(NoKeyAvailable, match="benched") as info:
        await pool.acquire(M, prefer="a")
    assert 0 < info.value.retry_after <= BENCH_BASE

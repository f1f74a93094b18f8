"""KeyPool selection, cooldowns, disabling and messages, with an injected clock (no real waiting)."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from gemini_proxy.errors import NoKeyAvailable
from gemini_proxy.state.memory import MemoryStore
from gemini_proxy.upstream.keys import ApiKey
from gemini_proxy.upstream.pool import KeyPool
from gemini_proxy.upstream.quota import ClientFault, InvalidKey, Outcome, RateLimited, Success, Transient
from tests.upstream.conftest import FakeClock, fake_keys

M = "gemini-2.5-flash"
LA = ZoneInfo("America/Los_Angeles")


def make_pool(keys: list[ApiKey], clock: FakeClock, **kw: object) -> KeyPool:
    return KeyPool(keys, MemoryStore(clock=clock), clock=clock, **kw)  # type: ignore[arg-type]


async def use(pool: KeyPool, outcome: Outcome, model: str = M, **kw: object) -> str:
    lease = await pool.acquire(model, **kw)  # type: ignore[arg-type]
    pool.release(lease, outcome)
    return lease.key.short_id


async def test_spreads_evenly(clock: FakeClock) -> None:
    keys = fake_keys(5)
    pool = make_pool(keys, clock)
    seen = Counter([await use(pool, Success(1, 1)) for _ in range(500)])
    assert set(seen) == {k.short_id for k in keys}
    assert set(seen.values()) == {100}


async def test_spreads_over_remaining_when_one_cools(clock: FakeClock) -> None:
    keys = fake_keys(4)
    pool = make_pool(keys, clock)
    lease = await pool.acquire(M)
    pool.release(lease, RateLimited(30.0))
    seen = Counter([await use(pool, Success()) for _ in range(300)])
    assert lease.key.short_id not in seen
    assert sorted(seen.values()) == [100, 100, 100]


async def test_retry_delay_honoured(clock: FakeClock) -> None:
    pool = make_pool(fake_keys(1), clock)
    lease = await pool.acquire(M)
    pool.release(lease, RateLimited(58.0, False, "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"))
    clock.advance(57.9)
    with pytest.raises(NoKeyAvailable) as info:
        await pool.acquire(M)
    assert info.value.retry_after == pytest.approx(0.1)
    assert await pool.acquire("gemini-2.5-pro")  # other models are not blocked
    clock.advance(0.1)
    assert (await pool.acquire(M)).key == lease.key


async def test_fractional_delay(clock: FakeClock) -> None:
    pool = make_pool(fake_keys(1), clock)
    await use(pool, RateLimited(1.203608125))
    clock.advance(1.2)
    with pytest.raises(NoKeyAvailable) as info:
        await pool.acquire(M)
    assert info.value.retry_after == pytest.approx(0.003608125, abs=1e-6)
    clock.advance(0.0037)
    await pool.acquire(M)


async def test_a_zero_retry_delay_backs_off_instead_of_retrying_at_once(clock: FakeClock) -> None:
    # Google may say retryDelay "0s" at the end of a quota window, and refuse again: taken at its
    # word the key would be free at once and the same request sent again and again.
    pool = make_pool(fake_keys(1), clock, default_cooldown=1.0, max_cooldown=8.0)
    waits = []
    for _ in range(3):
        await use(pool, RateLimited(0.0))
        with pytest.raises(NoKeyAvailable) as info:
            await pool.acquire(M)
        waits.append(info.value.retry_after)
        clock.advance(info.value.retry_after)
    assert waits == [1.0, 2.0, 4.0]


@pytest.mark.parametrize(
    ("local_now", "back_at"),
    [
        (datetime(2026, 3, 8, 1, 30, tzinfo=LA), datetime(2026, 3, 9, tzinfo=LA)),  # spring forward day (23 h)
        (datetime(2026, 11, 1, 0, 30, tzinfo=LA), datetime(2026, 11, 2, tzinfo=LA)),  # fall back day (25 h)
        (datetime(2026, 11, 1, 23, 0, tzinfo=LA), datetime(2026, 11, 2, tzinfo=LA)),
    ],
)
async def test_daily_quota_until_pacific_midnight(local_now: datetime, back_at: datetime) -> None:
    clock = FakeClock(local_now.timestamp())
    pool = make_pool(fake_keys(1), clock)
    await use(pool, RateLimited(23.0, True, "GenerateRequestsPerDayPerProjectPerModel-FreeTier"))
    clock.advance(60)  # the 23 s retryDelay is not trusted for daily quota
    with pytest.raises(NoKeyAvailable) as info:
        await pool.acquire(M)
    assert info.value.retry_after == pytest.approx(back_at.timestamp() - clock.now)
    assert "out of daily quota" in info.value.message
    assert pool.snapshot()[0]["state"] == "out_of_daily_quota"
    clock.now = back_at.timestamp() - 0.01
    with pytest.raises(NoKeyAvailable):
        await pool.acquire(M)
    clock.now = back_at.timestamp()
    await pool.acquire(M)


async def test_default_cooldown_grows_and_resets(clock: FakeClock) -> None:
    pool = make_pool(fake_keys(1), clock, default_cooldown=1.0, max_cooldown=8.0)
    waits = []
    for _ in range(6):
        await use(pool, RateLimited())
        with pytest.raises(NoKeyAvailable) as info:
            await pool.acquire(M)
        waits.append(info.value.retry_after)
        clock.advance(info.value.retry_after)
    assert waits == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    await use(pool, Success())
    await use(pool, RateLimited())
    with pytest.raises(NoKeyAvailable) as info:
        await pool.acquire(M)
    assert info.value.retry_after == 1.0


async def test_concurrent_429s_count_as_one_strike(clock: FakeClock) -> None:
    pool = make_pool(fake_keys(1), clock, default_cooldown=1.0)
    leases = [await pool.acquire(M) for _ in range(3)]  # three requests in flight on the same key
    for lease in leases:
        pool.release(lease, RateLimited())
    with pytest.raises(NoKeyAvailable) as info:
        await pool.acquire(M)
    assert info.value.retry_after == 1.0


async def test_a_success_sent_before_a_cooldown_does_not_forgive_it(clock: FakeClock) -> None:
    """A straggler's success, told while the key still cools (a call answered just before the 429
    and counted a turn later), leaves the strikes: the next 429 doubles the wait."""
    pool = make_pool(fake_keys(1), clock, default_cooldown=1.0, max_cooldown=8.0)
    straggler = await pool.acquire(M)
    await use(pool, RateLimited())
    pool.release(straggler, Success())
    clock.advance(1.0)
    await use(pool, RateLimited())
    with pytest.raises(NoKeyAvailable) as info:
        await pool.acquire(M)
    assert info.value.retry_after == 2.0


async def test_invalid_key_disabled_for_good(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, "gemini_proxy.pool")
    keys = fake_keys(3)
    pool = make_pool(keys, clock)
    bad = await use(pool, InvalidKey("API_KEY_INVALID"))
    clock.advance(10 * 86400)
    seen = {await use(pool, Success(), model=m) for m in (M, "gemini-2.5-pro") for _ in range(20)}
    assert bad not in seen and len(seen) == 2
    snap = {s["key"]: s for s in pool.snapshot()}
    assert snap[bad]["state"] == "disabled" and snap[bad]["reason"] == "API_KEY_INVALID"
    assert f"key {bad} disabled" in caplog.text


async def test_operator_enable_disable(clock: FakeClock) -> None:
    keys = fake_keys(1)
    pool = make_pool(keys, clock)
    sid = keys[0].short_id
    pool.disable(sid, "operator says so")
    with pytest.raises(NoKeyAvailable, match="disabled"):
        await pool.acquire(M)
    pool.enable(sid)
    assert (await pool.acquire(M)).key.short_id == sid


async def test_rate_limit_never_disables(clock: FakeClock) -> None:
    pool = make_pool(fake_keys(1), clock)
    for _ in range(50):
        await use(pool, RateLimited())
        clock.advance(3600)
    assert pool.snapshot()[0]["state"] == "active"
    assert pool.counts()["available"] == 1


async def test_transient_and_client_fault_do_not_bench(clock: FakeClock) -> None:
    pool = make_pool(fake_keys(1), clock)
    await use(pool, Transient("503 UNAVAILABLE"))
    await use(pool, ClientFault())
    await use(pool, Transient("timeout"))
    snap = pool.snapshot()[0]
    assert snap["state"] == "active" and snap["models"][M]["state"] == "active"
    assert snap["models"][M]["requests_today"] == 3
    await pool.acquire(M)


async def test_exclude_and_prefer(clock: FakeClock) -> None:
    keys = fake_keys(3)
    pool = make_pool(keys, clock)
    ids = [k.short_id for k in keys]
    for _ in range(10):
        assert await use(pool, Success(), exclude=frozenset(ids[:2])) == ids[2]
        assert await use(pool, Success(), prefer=ids[1]) == ids[1]
    # prefer pins a cache's owner (untagged keys are each their own project): no other key may serve.
    with pytest.raises(NoKeyAvailable):
        await pool.acquire(M, prefer=ids[1], exclude=frozenset({ids[1]}))
    await use(pool, RateLimited(10.0), prefer=ids[0])
    with pytest.raises(NoKeyAvailable) as cooling:  # the owner cooling: wait for it, not another key
        await pool.acquire(M, prefer=ids[0])
    assert 9 <= cooling.value.retry_after <= 10
    # The other two keys were never tried: they cannot see the cache, and the message says so.
    assert "1 cooling down" in cooling.value.message and "already tried" not in cooling.value.message
    assert "2 in other projects, which cannot see the request's cached content" in cooling.value.message
    with pytest.raises(NoKeyAvailable, match="already tried") as info:
        await pool.acquire(M, exclude=frozenset(ids[1:]))
    assert info.value.retry_after == 1.0  # the tried keys are fine: retry soon


async def test_project_groups_share_cooldowns(clock: FakeClock) -> None:
    a1, a2 = ApiKey("test-key-a1", "a1", "proj-a"), ApiKey("test-key-a2", "a2", "proj-a")
    b1 = ApiKey("test-key-b1", "b1", "proj-b")
    pool = make_pool([a1, a2, b1], clock)
    await use(pool, RateLimited(20.0), prefer="a1")
    assert {await use(pool, Success()) for _ in range(10)} == {"b1"}
    await use(pool, RateLimited(None, True, "GenerateRequestsPerDayPerProjectPerModel"), prefer="b1")
    with pytest.raises(NoKeyAvailable) as info:
        await pool.acquire(M)
    assert info.value.retry_after == pytest.approx(20.0)
    assert "2 cooling down" in info.value.message and "1 out of daily quota" in info.value.message
    assert await use(pool, Success(), model="gemini-2.5-pro") in {"a1", "a2", "b1"}
    clock.advance(20)
    assert {await use(pool, Success()) for _ in range(10)} == {"a1", "a2"}


async def test_projects_interleaved(clock: FakeClock) -> None:
    keys = [ApiKey(f"test-key-{p}{i}", f"{p}{i}", p) for p in "ab" for i in range(3)]
    pool = make_pool(keys, clock)
    order = [await use(pool, Success()) for _ in range(6)]
    assert [sid[0] for sid in order] == list("ababab")


async def test_all_spent_message_and_no_secret(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, "gemini_proxy")
    keys = fake_keys(3)
    pool = make_pool(keys, clock)
    await use(pool, RateLimited(30.0))
    await use(pool, RateLimited(12.5))
    await use(pool, InvalidKey("SERVICE_DISABLED"))
    with pytest.raises(NoKeyAvailable) as info:
        await pool.acquire(M)
    exc = info.value
    assert exc.retry_after == pytest.approx(12.5)
    assert exc.status == 429
    assert "2 cooling down" in exc.message and "first back in 12.5s" in exc.message and "1 disabled" in exc.message
    for key in keys:
        assert key.secret not in exc.message
        assert key.secret not in repr(pool.snapshot())
        assert key.secret not in caplog.text


async def test_all_disabled(clock: FakeClock) -> None:
    keys = fake_keys(2)
    pool = make_pool(keys, clock)
    await use(pool, InvalidKey("API_KEY_INVALID"))
    await use(pool, InvalidKey("PERMISSION_DENIED"))
    with pytest.raises(NoKeyAvailable, match="All 2 Gemini API keys are disabled") as info:
        await pool.acquire(M)
    assert info.value.retry_after == 60.0
    assert all(k.secret not in info.value.message for k in keys)


async def test_no_keys() -> None:
    pool = make_pool([], FakeClock())
    with pytest.raises(NoKeyAvailable, match="No Gemini API keys are configured"):
        await pool.acquire(M)


async def test_whole_pool_throttled_comes_back(clock: FakeClock) -> None:
    pool = make_pool(fake_keys(3), clock)
    for delay in (5.0, 7.0, 9.0):
        await use(pool, RateLimited(delay))
    with pytest.raises(NoKeyAvailable):
        await pool.acquire(M)
    clock.advance(9.0)
    assert len({await use(pool, Success()) for _ in range(3)}) == 3


async def test_update_keys_keeps_state_and_reenables_readded(clock: FakeClock) -> None:
    k1, k2, k3 = fake_keys(3)
    pool = make_pool([k1, k2, k3], clock)
    await use(pool, RateLimited(100.0), prefer=k1.short_id)
    await use(pool, InvalidKey("API_KEY_INVALID"), prefer=k2.short_id)
    await use(pool, Success(10, 5), prefer=k3.short_id)
    k4 = ApiKey("test-key-4-new")
    pool.update_keys([k1, k2, k3, k4])  # kept: state kept
    snap = {s["key"]: s for s in pool.snapshot()}
    assert snap[k1.short_id]["state"] == "cooling_down"
    assert snap[k2.short_id]["state"] == "disabled"
    assert snap[k3.short_id]["totals"]["prompt_tokens"] == 10
    assert snap[k4.short_id]["state"] == "active"
    pool.update_keys([k1, k3, k4])  # k2 removed
    assert k2.short_id not in {s["key"] for s in pool.snapshot()}
    assert {await use(pool, Success()) for _ in range(20)} == {k3.short_id, k4.short_id}
    pool.update_keys([k1, k2, k3, k4])  # re-added: enabled again
    assert k2.short_id in {await use(pool, Success()) for _ in range(20)}
    assert pool.snapshot()[0]["state"] == "cooling_down"  # k1 still cooling


async def test_update_keys_changed_line_reenables(clock: FakeClock) -> None:
    key = ApiKey("test-key-old", "work-1")
    pool = make_pool([key], clock)
    await use(pool, InvalidKey("API_KEY_INVALID"))
    pool.update_keys([key])  # unchanged line: stays disabled
    with pytest.raises(NoKeyAvailable):
        await pool.acquire(M)
    pool.update_keys([ApiKey("test-key-new", "work-1")])  # same name, new secret
    lease = await pool.acquire(M)
    assert lease.key.secret == "test-key-new"


async def test_counters_and_snapshot(clock: FakeClock) -> None:
    keys = fake_keys(1)
    pool = make_pool(keys, clock)
    await pool.start()
    try:
        await use(pool, Success(100, 20))
        await use(pool, Success(50, 5))
        await use(pool, RateLimited(1.0))
        clock.advance(2)
        await use(pool, Success(1, 1), model="models/gemini-2.5-pro")
        snap = pool.snapshot()
        assert snap[0]["models"][M] == {
            "requests_today": 3,
            "prompt_tokens_today": 150,
            "output_tokens_today": 25,
            "rate_limited_today": 1,
            "state": "active",
            "until": None,
            "until_utc": None,
        }
        assert snap[0]["models"]["gemini-2.5-pro"]["requests_today"] == 1
        assert snap[0]["totals"] == {"requests": 4, "prompt_tokens": 151, "output_tokens": 26, "rate_limited": 1}
        assert pool.counts() == {
            "configured": 1,
            "enabled": 1,
            "disabled": 0,
            "cooling_down": 0,
            "benched": 0,
            "available": 1,
            "in_flight": 0,
        }
        clock.now = datetime(2026, 3, 8, 0, 0, 1, tzinfo=LA).timestamp()  # next Pacific day
        await pool.sync()
        snap = pool.snapshot()
        assert snap[0]["models"] == {}
        assert snap[0]["totals"]["requests"] == 4
    finally:
        await pool.close()


async def test_double_release_is_ignored(clock: FakeClock) -> None:
    pool = make_pool(fake_keys(1), clock, max_concurrency_per_key=1)
    lease = await pool.acquire(M)
    pool.release(lease, Success())
    pool.release(lease, Success())
    assert pool.counts()["in_flight"] == 0
    await pool.acquire(M)


async def test_cache_affinity(clock: FakeClock) -> None:
    pool = make_pool(fake_keys(1), clock)
    await pool.caches.remember(["cachedContents/abc"], "work-1")
    assert await pool.caches.owner("cachedContents/abc") == "work-1"
    assert await pool.caches.owner("cachedContents/zzz") is None


async def test_a_cache_request_waits_for_its_project_instead_of_going_elsewhere(clock: FakeClock) -> None:
    keys = [
        ApiKey("test-key-1", "a1", "proj-a"),
        ApiKey("test-key-2", "a2", "proj-a"),
        ApiKey("test-key-3", "b1", "proj-b"),
    ]
    pool = KeyPool(keys, MemoryStore(clock=clock), clock=clock)
    await pool.start()
    try:
        # The owner failed for this request: the other key of its project can see the cache too.
        for _ in range(3):
            lease = await pool.acquire(M, prefer="a1", exclude=frozenset({"a1"}))
            assert lease.key.label == "a2"
            pool.release(lease, Success())
        # The whole project cooling down: not proj-b's key, which cannot see the cache.
        pool.release(await pool.acquire(M, prefer="a1"), RateLimited(retry_after=30, per_day=False, quota_id=None))
        with pytest.raises(NoKeyAvailable) as info:
            await pool.acquire(M, prefer="a1")
        assert 25 <= info.value.retry_after <= 30
        assert (await pool.acquire(M)).key.project == "proj-b"  # without a cache, anyone
    finally:
        await pool.close()

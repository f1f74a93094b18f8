"""Per-client limits (``limits.py``) on an injected clock: requests and tokens per minute (the
last 60 s, counted in 10 s buckets), tokens per UTC day, requests at once; and their sharing
between processes through a state store."""

from __future__ import annotations

from typing import Any

import pytest

from gemini_proxy.clients import Client
from gemini_proxy.limits import ClientLimiter
from gemini_proxy.state.memory import MemoryStore


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:  # a multiple of 10 s
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_rpm_counts_the_last_minute_per_client() -> None:
    clock = Clock()
    limiter = ClientLimiter(clock)
    alice, bob = Client("alice", rpm=2), Client("bob", rpm=2)
    assert limiter.admit(alice) is None
    clock.now += 20
    assert limiter.admit(alice) is None
    refused = limiter.admit(alice)
    assert refused is not None and "2 requests per minute" in refused[1]
    assert refused[0] == pytest.approx(40.0 + 10.0)  # the first leaves the minute; its bucket fades over 10 s
    assert limiter.admit(bob) is None  # bob has a minute of his own
    clock.now += 41
    assert limiter.admit(alice) is not None  # the first request's bucket is still a tenth inside
    clock.now += 9
    assert limiter.admit(alice) is None
    assert limiter.admit(alice) is not None


def test_rpm_does_not_double_across_a_minute_boundary() -> None:
    clock = Clock(1_800_000_050.0)
    limiter = ClientLimiter(clock)
    alice = Client("alice", rpm=10)
    admitted = 0
    for _ in range(40):  # a burst at 0:50, then one every second to 1:30
        admitted += limiter.admit(alice) is None
        clock.now += 1
    assert admitted <= 10 + 2  # a sliding minute: never twice the limit


def test_concurrency_counts_requests_in_flight() -> None:
    limiter = ClientLimiter(Clock())
    alice = Client("alice", max_concurrency=2)
    assert limiter.admit(alice) is None and limiter.admit(alice) is None
    refused = limiter.admit(alice)
    assert refused is not None and refused[0] == 1.0 and "2 requests at once" in refused[1]
    limiter.release(alice)
    assert limiter.in_flight("alice") == 1
    assert limiter.admit(alice) is None
    limiter.release(alice)
    limiter.release(alice)
    assert limiter.in_flight("alice") == 0


def test_a_refusal_for_concurrency_spends_nothing_of_the_minute() -> None:
    limiter = ClientLimiter(Clock())
    alice = Client("alice", rpm=2, max_concurrency=1)
    assert limiter.admit(alice) is None
    assert limiter.admit(alice) is not None  # busy: not counted in the minute
    limiter.release(alice)
    assert limiter.admit(alice) is None  # the second of the minute
    limiter.release(alice)
    assert limiter.admit(alice) is not None  # the minute's two are spent


def test_tokens_per_minute_refuse_once_spent() -> None:
    clock = Clock()
    limiter = ClientLimiter(clock)
    alice = Client("alice", tpm=1000)
    assert limiter.admit(alice) is None
    limiter.spend("alice", 600)
    limiter.release(alice)
    assert limiter.admit(alice) is None  # 600 < 1000: the next request may go
    limiter.spend("alice", 600)  # this one crosses the limit: it was answered in full
    limiter.release(alice)
    refused = limiter.admit(alice)
    assert refused is not None and "1000 tokens per minute" in refused[1]
    assert 50 <= refused[0] <= 70
    limiter.spend("bob", 10_000)  # bob has no limit: not even tracked
    assert limiter.view("bob") == {}
    assert limiter.view("alice")["tokens_last_minute"] == 1200


def test_tokens_per_day_wait_for_midnight_utc() -> None:
    clock = Clock(1_800_000_000.0)  # 08:00 UTC
    limiter = ClientLimiter(clock)
    alice = Client("alice", tokens_per_day=5000)
    assert limiter.admit(alice) is None
    limiter.spend("alice", 5000)
    limiter.release(alice)
    refused = limiter.admit(alice)
    assert refused is not None and "5000 tokens per day" in refused[1]
    assert refused[0] == 86400 - 1_800_000_000 % 86400
    clock.now += refused[0]
    assert limiter.admit(alice) is None  # a new day


async def test_two_processes_share_a_clients_limits_through_the_store() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock)
    first, second = ClientLimiter(clock, store=store), ClientLimiter(clock, store=store)
    alice = Client("alice", rpm=4, tpm=100, max_concurrency=3)
    assert first.admit(alice) is None and first.admit(alice) is None
    assert second.admit(alice) is None
    first.spend("alice", 60)
    for limiter in (first, second, first):
        await limiter.sync_once()
    # second sees first's two requests in flight, and the 60 tokens
    assert second.view("alice") == {
        "in_flight": 3, "requests_last_minute": 3, "tokens_last_minute": 60, "tokens_today": 60
    }
    refused = second.admit(alice)
    assert refused is not None and "3 requests at once" in refused[1]
    first.release(alice)
    second.spend("alice", 50)
    await first.sync_once()
    await second.sync_once()
    refused = second.admit(alice)
    assert refused is not None and "100 tokens per minute" in refused[1]
    clock.now += 70  # a minute (and its last bucket) later the tokens have left; the requests too
    await first.sync_once()
    await second.sync_once()
    assert second.admit(alice) is None


async def test_a_count_synced_after_its_bucket_ended_reaches_every_process() -> None:
    # first syncs, its 10 s bucket ends; second's request of that bucket is synced only after:
    # first still learns of it (it reads every bucket of the minute back, not just the current)
    clock = Clock(1_800_000_009.0)
    store = MemoryStore(clock=clock)
    first, second = ClientLimiter(clock, store=store), ClientLimiter(clock, store=store)
    alice = Client("alice", rpm=2)
    assert first.admit(alice) is None
    await first.sync_once()
    assert second.admit(alice) is None  # not yet synced
    clock.now += 2  # the next bucket
    await first.sync_once()
    await second.sync_once()
    await first.sync_once()
    assert first.view("alice")["requests_last_minute"] == 2
    refused = first.admit(alice)
    assert refused is not None and "2 requests per minute" in refused[1]


async def test_counts_made_during_a_sync_are_kept() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock)
    limiter = ClientLimiter(clock, store=store)
    alice = Client("alice", rpm=10)
    assert limiter.admit(alice) is None
    add_counts = store.add_counts

    async def slow(*args: Any, **kwargs: Any) -> dict[int, dict[str, int]]:
        assert limiter.admit(alice) is None  # while the exchange is under way
        return await add_counts(*args, **kwargs)

    store.add_counts = slow  # type: ignore[method-assign]
    await limiter.sync_once()
    store.add_counts = add_counts  # type: ignore[method-assign]
    assert limiter.view("alice")["requests_last_minute"] == 4  # 1 + 1 per namespace exchange (3)
    await limiter.sync_once()
    assert limiter.view("alice")["requests_last_minute"] == 4
    stored = await store.add_counts("climit-req", {}, read=range(179_999_990, 180_000_010), ttl=60)
    assert stored == {180_000_000: {"alice": 4}}  # each sent once


async def test_a_process_that_stopped_reporting_no_longer_holds_requests_in_flight() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock)
    gone, alive = ClientLimiter(clock, store=store), ClientLimiter(clock, store=store)
    alice = Client("alice", max_concurrency=1)
    assert gone.admit(alice) is None
    await gone.sync_once()
    assert alive.admit(alice) is None  # not synced yet: alive does not know
    alive.release(alice)
    await alive.sync_once()
    assert alive.admit(alice) is not None
    clock.now += 6  # gone has not reported for longer than the gauges' ttl
    await alive.sync_once()
    assert alive.admit(alice) is None

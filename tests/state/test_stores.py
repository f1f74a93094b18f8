"""The StateStore contract, run against memory, SQLite and a real Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import pytest

from gemini_proxy.state import open_store
from gemini_proxy.state.base import KeyRecord, StateStore, empty_record
from gemini_proxy.state.memory import MemoryStore
from gemini_proxy.state.redis import RedisStore
from gemini_proxy.state.sqlite import SqliteStore
from tests.servers import RedisServer

M = "gemini-2.5-flash"


def update(sid: str, **fields: object) -> KeyRecord:
    rec = empty_record(sid)
    rec.update(fields)  # type: ignore[typeddict-item]
    return rec


async def by_id(store: StateStore) -> dict[str, KeyRecord]:
    records, _ = await store.load_records()
    return {r["id"]: r for r in records}


async def test_cooldown_later_until_wins(store: StateStore) -> None:
    now = time.time()
    await store.save_records([update("k1", cd={M: [now + 60, "rate"], "other": [now - 5, "rate"]})])
    await store.save_records([update("k1", cd={M: [now + 30, "rate"]})])  # earlier: ignored
    rec = (await by_id(store))["k1"]
    assert list(rec["cd"]) == [M]  # expired cooldowns are dropped
    assert rec["cd"][M] == [pytest.approx(now + 60, abs=1e-3), "rate"]  # Redis' Lua keeps 14 digits
    await store.save_records([update("k1", cd={M: [now + 90000, "daily"]})])
    assert (await by_id(store))["k1"]["cd"][M] == [pytest.approx(now + 90000, abs=1e-3), "daily"]


async def test_disabled_until_newer_enable(store: StateStore) -> None:
    await store.save_records([update("k1", dis_at=100.0, dis_reason="API_KEY_INVALID", fp="fp1")])
    await store.save_records([update("k1", en_at=50.0)])  # an older enable does not win
    rec = (await by_id(store))["k1"]
    assert (rec["dis_at"], rec["dis_reason"], rec["en_at"], rec["fp"]) == (100.0, "API_KEY_INVALID", 50.0, "fp1")
    await store.save_records([update("k1", en_at=150.0)])
    rec = (await by_id(store))["k1"]
    assert rec["en_at"] > rec["dis_at"]
    assert rec["fp"] == "fp1"  # an update without fingerprint keeps it


async def test_counters_add_and_roll_by_day(store: StateStore) -> None:
    await store.save_records([update("k1", day="2026-03-07", daily={M: [1, 10, 5, 0]}, tot=[1, 10, 5, 0])])
    await store.save_records([update("k1", day="2026-03-07", daily={M: [2, 20, 5, 1]}, tot=[2, 20, 5, 1])])
    rec = (await by_id(store))["k1"]
    assert rec["day"] == "2026-03-07" and rec["daily"] == {M: [3, 30, 10, 1]} and rec["tot"] == [3, 30, 10, 1]
    await store.save_records([update("k1", day="2026-03-08", daily={M: [1, 1, 1, 0]}, tot=[1, 1, 1, 0])])
    await store.save_records([update("k1", day="2026-03-07", daily={M: [9, 9, 9, 9]}, tot=[0, 0, 0, 0])])  # stale
    rec = (await by_id(store))["k1"]
    assert rec["day"] == "2026-03-08" and rec["daily"] == {M: [1, 1, 1, 0]} and rec["tot"] == [4, 31, 11, 1]


async def test_changes_since(store: StateStore) -> None:
    _, v0 = await store.load_records()
    await store.save_records([update("k1"), update("k2")])
    changed, v1 = await store.changes_since(v0)
    assert {r["id"] for r in changed} == {"k1", "k2"} and v1 > v0
    assert await store.changes_since(v1) == ([], v1)
    await store.save_records([update("k2", en_at=5.0)])
    changed, v2 = await store.changes_since(v1)
    assert [r["id"] for r in changed] == ["k2"] and v2 > v1


async def test_key_value_with_ttl(store: StateStore) -> None:
    await store.put_many("sig", {"call_1": "sigA", "call_2": "sigB"}, ttl=86400)
    await store.put_many("sig", {"call_3": "sigC"}, ttl=0.2)
    await store.put_many("cache", {"call_1": "other-namespace"})
    assert await store.get_many("sig", ["call_1", "call_3", "nope"]) == {"call_1": "sigA", "call_3": "sigC"}
    await asyncio.sleep(0.3)
    assert await store.get_many("sig", ["call_1", "call_2", "call_3"]) == {"call_1": "sigA", "call_2": "sigB"}
    assert await store.get_many("cache", ["call_1"]) == {"call_1": "other-namespace"}
    assert await store.get_many("sig", []) == {}


async def test_usage_shared(store: StateStore) -> None:
    assert await store.add_usage(100, {"k1": 2, "k2": 0}) == {"k1": 2}
    assert await store.add_usage(100, {"k1": 1, "k2": 4}) == {"k1": 3, "k2": 4}
    assert await store.add_usage(101, {"k1": 1}) == {"k1": 1}


async def test_open_store_factory(tmp_path: Path, redis_server: RedisServer) -> None:
    stores = [
        await open_store(None, None),
        await open_store("", None),
        await open_store(str(tmp_path / "sub" / "x.db"), None),
        await open_store(str(tmp_path / "y.db"), redis_server.url),
    ]
    assert [type(s) for s in stores] == [MemoryStore, MemoryStore, SqliteStore, RedisStore]
    assert (tmp_path / "sub" / "x.db").exists()
    for s in stores:
        await s.put_many("sig", {"a": "b"}, ttl=60)
        assert await s.get_many("sig", ["a"]) == {"a": "b"}
        await s.close()


async def test_counts_add_up_per_namespace_and_window(store: StateStore) -> None:
    def add(
        counts: dict[int, dict[str, int]], read: range, namespace: str = "c"
    ) -> Awaitable[dict[int, dict[str, int]]]:
        return store.add_counts(namespace, counts, read=read, ttl=60)

    assert await add({7: {"alice": 2, "bob": 0}}, range(7, 8)) == {7: {"alice": 2}}
    assert await add({7: {"alice": 1, "bob": 5}}, range(7, 8)) == {7: {"alice": 3, "bob": 5}}
    # several windows in one exchange, each of its own; only those asked for are read back
    assert await add({8: {"alice": 1}, 9: {"bob": 2}}, range(5, 9)) == {7: {"alice": 3, "bob": 5}, 8: {"alice": 1}}
    assert await add({}, range(7, 8), "d") == {}  # a namespace of its own
    assert await add({}, range(0, 12)) == {7: {"alice": 3, "bob": 5}, 8: {"alice": 1}, 9: {"bob": 2}}


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def clocked(store_location: tuple[str | None, str | None]) -> AsyncIterator[tuple[StateStore, Clock]]:
    clock = Clock()
    db, redis_url = store_location
    s: StateStore
    if redis_url:
        s = RedisStore(redis_url, clock=clock)
    elif db:
        s = SqliteStore(db, clock=clock)
    else:
        s = MemoryStore(clock=clock)
    yield s, clock
    await s.close()


async def test_gauges_sum_the_members_that_still_report(clocked: tuple[StateStore, Clock]) -> None:
    store, clock = clocked
    assert await store.share_gauges("g", "p1", {"alice": 2, "bob": 1}, ttl=3) == {"alice": 2, "bob": 1}
    assert await store.share_gauges("g", "p2", {"alice": 3}, ttl=3) == {"alice": 5, "bob": 1}
    # p1's new report replaces its old one (bob is idle now)
    assert await store.share_gauges("g", "p1", {"alice": 1, "bob": 0}, ttl=3) == {"alice": 4}
    clock.now += 2
    assert (await store.share_gauges("g", "p1", {"alice": 1}, ttl=3)).get("alice") == 4
    clock.now += 2  # p2 has not reported for 4 s: gone (a process that stopped)
    assert (await store.share_gauges("g", "p1", {"alice": 1}, ttl=3)).get("alice") == 1
    assert await store.share_gauges("other", "p1", {}, ttl=3) == {}


async def test_counts_expire(clocked: tuple[StateStore, Clock]) -> None:
    store, clock = clocked
    assert await store.add_counts("c", {1: {"alice": 4}}, read=range(1, 2), ttl=120) == {1: {"alice": 4}}
    if isinstance(store, RedisStore):
        return  # Redis expires the window itself (EXPIRE, on its own clock)
    clock.now += 121
    assert await store.add_counts("c", {}, read=range(1, 2), ttl=120) == {}

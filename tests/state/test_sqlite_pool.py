"""KeyPool on SQLite: survives restarts, workers share one file, nothing is written on the hot path."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gemini_proxy.errors import NoKeyAvailable
from gemini_proxy.state.memory import MemoryStore
from gemini_proxy.state.sqlite import SqliteStore
from gemini_proxy.state.sqlite_db import SqliteDb
from gemini_proxy.upstream.keys import ApiKey
from gemini_proxy.upstream.pool import KeyPool
from gemini_proxy.upstream.quota import InvalidKey, RateLimited, Success
from tests.upstream.conftest import FakeClock

M = "gemini-2.5-flash"
KEYS = [ApiKey("test-key-1", "k1"), ApiKey("test-key-2", "k2"), ApiKey("test-key-3", "k3")]


async def use(pool: KeyPool, sid: str, outcome: Any) -> None:
    lease = await pool.acquire(M, prefer=sid)
    assert lease.key.short_id == sid
    pool.release(lease, outcome)


async def open_pool(path: Path, keys: list[ApiKey], clock: Any = time.time, **kw: Any) -> KeyPool:
    pool = KeyPool(keys, SqliteStore(path, clock=clock), clock=clock, **kw)
    await pool.start()
    return pool


async def close_pool(pool: KeyPool) -> None:
    await pool.close()
    await pool.store.close()


async def test_state_survives_restart(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "state.db"
    pool = await open_pool(path, KEYS, clock)
    await use(pool, "k1", RateLimited(100.0))
    await use(pool, "k2", InvalidKey("API_KEY_INVALID"))
    await use(pool, "k3", Success(100, 7))
    await pool.caches.remember(["cachedContents/c1"], "k3")
    await pool.store.put_many("sig", {"call_1": "sig-1"}, ttl=86400)
    await close_pool(pool)  # close flushes what the sync task has not written yet

    clock.advance(50)
    pool = await open_pool(path, KEYS, clock)
    snap = {s["key"]: s for s in pool.snapshot()}
    assert snap["k1"]["state"] == "cooling_down" and snap["k1"]["until"] == pytest.approx(clock.now + 50, abs=1e-3)
    assert snap["k2"]["state"] == "disabled" and snap["k2"]["reason"] == "API_KEY_INVALID"
    assert snap["k3"]["models"][M]["requests_today"] == 1
    assert snap["k3"]["models"][M]["prompt_tokens_today"] == 100
    assert snap["k3"]["totals"]["output_tokens"] == 7
    assert {(await pool.acquire(M)).key.short_id for _ in range(5)} == {"k3"}
    assert await pool.caches.owner("cachedContents/c1") == "k3"
    assert await pool.store.get_many("sig", ["call_1"]) == {"call_1": "sig-1"}
    await close_pool(pool)

    # The keys file changed k2's line (new secret, same name): re-enabled; an unchanged line stays disabled.
    pool = await open_pool(path, [KEYS[0], ApiKey("test-key-2-new", "k2"), KEYS[2]], clock)
    assert {s["key"]: s["state"] for s in pool.snapshot()}["k2"] == "active"
    await close_pool(pool)
    pool = await open_pool(path, KEYS, clock)  # the old line again: also a change, enabled
    assert {s["key"]: s["state"] for s in pool.snapshot()}["k2"] == "active"
    await use(pool, "k2", InvalidKey("API_KEY_INVALID"))
    await close_pool(pool)
    pool = await open_pool(path, KEYS, clock)
    assert {s["key"]: s["state"] for s in pool.snapshot()}["k2"] == "disabled"
    await close_pool(pool)


async def test_two_workers_share_cooldowns_within_a_second(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    a = await open_pool(path, KEYS, sync_interval=0.25)
    b = await open_pool(path, KEYS, sync_interval=0.25)
    try:
        start = time.monotonic()
        await use(a, "k1", RateLimited(60.0))
        await use(a, "k2", InvalidKey("PERMISSION_DENIED"))
        while time.monotonic() - start < 2:
            states = {s["key"]: s["state"] for s in b.snapshot()}
            if states["k1"] == "cooling_down" and states["k2"] == "disabled":
                break
            await asyncio.sleep(0.02)
        assert time.monotonic() - start < 1.0, "worker B did not see worker A's cooldown within 1 s"
        assert {(await b.acquire(M)).key.short_id for _ in range(6)} == {"k3"}

        b.enable("k2")  # an operator enable on B (newer timestamp) reaches A
        start = time.monotonic()
        while time.monotonic() - start < 2 and {s["key"]: s["state"] for s in a.snapshot()}["k2"] != "active":
            await asyncio.sleep(0.02)
        assert time.monotonic() - start < 1.0
    finally:
        await close_pool(a)
        await close_pool(b)


class CountingStore:
    """Wraps a store and counts the calls per method."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            return await attr(*args, **kwargs)

        return counted


def file_state(path: Path) -> list[tuple[int, int]]:
    return [(p.stat().st_mtime_ns, p.stat().st_size) for p in (path, Path(f"{path}-wal")) if p.exists()]


async def test_no_write_on_the_hot_path(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = CountingStore(SqliteStore(path))
    pool = KeyPool(KEYS, store, sync_interval=0.3)  # type: ignore[arg-type]
    await pool.start()
    try:
        await asyncio.sleep(0.05)
        store.calls.clear()
        before = file_state(path)
        for i in range(300):
            lease = await pool.acquire(M)
            pool.release(lease, RateLimited(0.001) if i in (0, 1) else Success(1, 1))
        assert store.calls == {}
        assert file_state(path) == before
        await asyncio.sleep(0.5)
        assert store.calls.get("save_records", 0) >= 1
        assert file_state(path) != before
    finally:
        await pool.close()
        await store.inner.close()
    check = SqliteStore(path)
    records, _ = await check.load_records()
    await check.close()
    assert sum(r["tot"][0] for r in records) == 300


async def test_store_failure_never_reaches_acquire_release(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(MemoryStore):
        async def save_records(self, updates: Any) -> None:
            raise OSError("disk full")

    pool = KeyPool(KEYS, Broken(), sync_interval=0.05)
    await pool.start()
    for _ in range(5):
        pool.release(await pool.acquire(M), Success())
        await asyncio.sleep(0.05)
    await pool.close()
    warnings = [r for r in caplog.records if "degraded mode" in r.getMessage()]
    assert len(warnings) == 1
    with pytest.raises(NoKeyAvailable):
        await pool.acquire(M, exclude=frozenset({"k1", "k2", "k3"}))


async def test_wal_mode(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    await store.open()
    await store.save_records([])
    mode = await store._db.run(lambda conn: conn.execute("PRAGMA journal_mode").fetchone()[0])
    await store.close()
    assert mode == "wal"
    assert os.path.exists(tmp_path / "state.db")


async def test_a_write_cut_short_by_shutdown_is_not_counted_twice(tmp_path: Path) -> None:
    """Cancelling the sync while its write runs in SQLite's thread must not re-queue deltas that the
    thread then commits anyway: the final flush would write them again (counted twice)."""
    in_thread = threading.Event()

    class FirstWriteSlow(SqliteStore):
        async def save_records(self, updates: Any) -> None:
            if any(u["tot"][0] for u in updates) and not in_thread.is_set():
                db = self._db
                real = db.run

                def slow(fn: Any, conn: Any) -> Any:
                    in_thread.set()
                    time.sleep(0.3)  # the thread goes on whatever happens to the task awaiting it
                    return fn(conn)

                async def slow_run(fn: Any) -> Any:
                    db.run = real  # type: ignore[method-assign]
                    return await real(lambda conn: slow(fn, conn))

                db.run = slow_run  # type: ignore[method-assign]
            await super().save_records(updates)

    path = tmp_path / "state.db"
    store = FirstWriteSlow(path)
    pool = KeyPool(KEYS, store, sync_interval=0.05)
    await pool.start()
    for _ in range(10):
        pool.release(await pool.acquire(M, prefer="k1"), Success(1, 1))
    assert await asyncio.to_thread(in_thread.wait, 5)
    await pool.close()  # cancels the sync task in the middle of that write, then flushes
    await asyncio.sleep(0.5)  # whatever the first write's thread does, it has done it
    await store.close()
    check = SqliteStore(path)
    records, _ = await check.load_records()
    await check.close()
    assert sum(r["tot"][0] for r in records) == 10


async def test_a_cancelled_call_keeps_the_connection_until_its_thread_is_done(tmp_path: Path) -> None:
    # The thread of a cancelled call goes on; a second call on the same connection must wait for
    # it, or two transactions would run on one connection at once.
    db = SqliteDb(tmp_path / "db.sqlite", "CREATE TABLE IF NOT EXISTS t (x INTEGER);")
    spans: list[tuple[str, float, float]] = []

    def slow(name: str) -> Callable[[sqlite3.Connection], None]:
        def work(conn: sqlite3.Connection) -> None:
            start = time.monotonic()
            conn.execute("INSERT INTO t VALUES (1)")
            time.sleep(0.3)
            spans.append((name, start, time.monotonic()))

        return work

    first = asyncio.create_task(db.transaction(slow("first")))
    await asyncio.sleep(0.05)
    first.cancel()
    second = asyncio.create_task(db.transaction(slow("second")))
    with pytest.raises(asyncio.CancelledError):
        await first
    await second
    (_, _, first_end), (_, second_start, _) = sorted(spans, key=lambda span: span[0])
    assert second_start >= first_end
    assert await db.run(lambda conn: conn.execute("SELECT count(*) FROM t").fetchone()[0]) == 2
    await db.close()

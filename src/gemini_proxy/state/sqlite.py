"""SQLite ``StateStore``: the embedded default; state survives restarts and is shared by workers.

stdlib ``sqlite3`` on one connection per store, run in a thread (``asyncio.to_thread``) and
serialised by an ``asyncio.Lock``; never called on the pool's hot path (the pool writes behind).

Several processes on one machine (``uvicorn --workers N``) share the file: WAL mode lets readers
run while one writes, ``busy_timeout`` queues writers. ``save_records`` reads, merges
(``merge_record``) and writes each row inside one ``BEGIN IMMEDIATE`` transaction, so
concurrent workers never lose each other's updates. Every write takes the next value of a
global ``version`` counter; ``changes_since(v)`` returns rows with a larger version.

Tables: ``keys(id, data JSON, version)``, ``meta(name, value)``, ``kv(ns, k, v, expires)``,
``usage(win, id, n)`` (per-minute request counts for shared RPM limits).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from gemini_proxy.state.base import KeyRecord, empty_record, merge_record

__all__ = ["SqliteStore"]

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (id TEXT PRIMARY KEY, data TEXT NOT NULL, version INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS keys_by_version ON keys (version);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS kv (ns TEXT NOT NULL, k TEXT NOT NULL, v TEXT NOT NULL, expires REAL,
                               PRIMARY KEY (ns, k));
CREATE TABLE IF NOT EXISTS usage (win INTEGER NOT NULL, id TEXT NOT NULL, n INTEGER NOT NULL,
                                  PRIMARY KEY (win, id));
"""
PURGE_EVERY = 300.0


def _record(data: str) -> KeyRecord:
    rec = empty_record("")
    rec.update(json.loads(data))
    return rec


class SqliteStore:
    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time, busy_timeout: float = 5.0) -> None:
        self.path = str(path)
        self._clock = clock
        self._busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()
        self._purged = 0.0

    # -- plumbing ------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(SCHEMA)
            self._conn = conn
        return self._conn

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        async with self._lock:
            return await asyncio.to_thread(lambda: fn(self._connect()))

    @staticmethod
    def _tx(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    async def open(self) -> None:
        await self._run(lambda conn: None)

    async def close(self) -> None:
        async with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                await asyncio.to_thread(conn.close)

    # -- key records -----------------------------------------------------------------------------
    @staticmethod
    def _version(conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT value FROM meta WHERE name = 'version'").fetchone()
        return int(row[0]) if row else 0

    async def load_records(self) -> tuple[list[KeyRecord], int]:
        def load(conn: sqlite3.Connection) -> tuple[list[KeyRecord], int]:
            conn.execute("BEGIN")
            try:
                rows = conn.execute("SELECT data FROM keys").fetchall()
                return [_record(r[0]) for r in rows], self._version(conn)
            finally:
                conn.execute("COMMIT")

        return await self._run(load)

    async def changes_since(self, version: int) -> tuple[list[KeyRecord], int]:
        def changes(conn: sqlite3.Connection) -> tuple[list[KeyRecord], int]:
            conn.execute("BEGIN")
            try:
                rows = conn.execute("SELECT data FROM keys WHERE version > ?", (version,)).fetchall()
                return [_record(r[0]) for r in rows], self._version(conn)
            finally:
                conn.execute("COMMIT")

        return await self._run(changes)

    async def save_records(self, updates: Sequence[KeyRecord]) -> None:
        if not updates:
            return
        now = self._clock()

        def save(conn: sqlite3.Connection) -> None:
            version = self._version(conn)
            for update in updates:
                version += 1
                row = conn.execute("SELECT data FROM keys WHERE id = ?", (update["id"],)).fetchone()
                current = _record(row[0]) if row else empty_record(update["id"])
                merged = merge_record(current, update, now)
                conn.execute(
                    "INSERT INTO keys (id, data, version) VALUES (?, ?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET data = excluded.data, version = excluded.version",
                    (update["id"], json.dumps(merged, separators=(",", ":")), version),
                )
            conn.execute(
                "INSERT INTO meta (name, value) VALUES ('version', ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (version,),
            )

        await self._run(lambda conn: self._tx(conn, save))

    async def add_usage(self, window: int, counts: Mapping[str, int]) -> dict[str, int]:
        def add(conn: sqlite3.Connection) -> dict[str, int]:
            conn.execute("DELETE FROM usage WHERE win < ?", (window - 1,))
            conn.executemany(
                "INSERT INTO usage (win, id, n) VALUES (?, ?, ?) "
                "ON CONFLICT (win, id) DO UPDATE SET n = n + excluded.n",
                [(window, sid, n) for sid, n in counts.items() if n],
            )
            rows = conn.execute("SELECT id, n FROM usage WHERE win = ?", (window,)).fetchall()
            return {str(r[0]): int(r[1]) for r in rows}

        return await self._run(lambda conn: self._tx(conn, add))

    # -- key-value records -----------------------------------------------------------------------
    async def put_many(self, namespace: str, items: Mapping[str, str], *, ttl: float | None = None) -> None:
        if not items:
            return
        now = self._clock()
        expires = None if ttl is None else now + ttl
        purge = now - self._purged > PURGE_EVERY
        if purge:
            self._purged = now

        def put(conn: sqlite3.Connection) -> None:
            if purge:
                conn.execute("DELETE FROM kv WHERE expires IS NOT NULL AND expires <= ?", (now,))
            conn.executemany(
                "INSERT INTO kv (ns, k, v, expires) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (ns, k) DO UPDATE SET v = excluded.v, expires = excluded.expires",
                [(namespace, k, v, expires) for k, v in items.items()],
            )

        await self._run(lambda conn: self._tx(conn, put))

    async def get_many(self, namespace: str, keys: Sequence[str]) -> dict[str, str]:
        if not keys:
            return {}
        now = self._clock()
        wanted = list(dict.fromkeys(keys))

        def get(conn: sqlite3.Connection) -> dict[str, str]:
            found: dict[str, str] = {}
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT k, v FROM kv WHERE ns = ? AND k IN ({marks}) AND (expires IS NULL OR expires > ?)",
                    [namespace, *chunk, now],
                ).fetchall()
                found.update({str(r[0]): str(r[1]) for r in rows})
            return found

        return await self._run(get)

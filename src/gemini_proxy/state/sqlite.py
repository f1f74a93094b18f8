"""SQLite ``StateStore``: the embedded default; state survives restarts and is shared by workers.

One connection per store (``SqliteDb`` in ``sqlite_db.py``: a thread, a lock, WAL mode); never
called on the pool's hot path (the pool writes behind).

Several processes on one machine (``uvicorn --workers N``) share the file: WAL mode lets readers
run while one writes, ``busy_timeout`` queues writers. ``save_records`` reads, merges
(``merge_record``) and writes each row inside one ``BEGIN IMMEDIATE`` transaction, so
concurrent workers never lose each other's updates. Every write takes the next value of a
global ``version`` counter; ``changes_since(v)`` returns rows with a larger version.

Tables: ``keys(id, data JSON, version)``, ``meta(name, value)``, ``kv(ns, k, v, expires)``,
``usage(win, id, n)`` (per-minute request counts for shared RPM limits), ``counts(ns, win, id, n,
expires)`` and ``gauges(ns, member, id, n, expires)`` (per-client limits, ``limits.py``).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from gemini_proxy.state.base import KeyRecord, empty_record, merge_record
from gemini_proxy.state.sqlite_db import SqliteDb

__all__ = ["SqliteStore"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (id TEXT PRIMARY KEY, data TEXT NOT NULL, version INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS keys_by_version ON keys (version);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS kv (ns TEXT NOT NULL, k TEXT NOT NULL, v TEXT NOT NULL, expires REAL,
                               PRIMARY KEY (ns, k));
CREATE TABLE IF NOT EXISTS usage (win INTEGER NOT NULL, id TEXT NOT NULL, n INTEGER NOT NULL,
                                  PRIMARY KEY (win, id));
CREATE TABLE IF NOT EXISTS counts (ns TEXT NOT NULL, win INTEGER NOT NULL, id TEXT NOT NULL,
                                   n INTEGER NOT NULL, expires REAL NOT NULL, PRIMARY KEY (ns, win, id));
CREATE TABLE IF NOT EXISTS gauges (ns TEXT NOT NULL, member TEXT NOT NULL, id TEXT NOT NULL,
                                   n INTEGER NOT NULL, expires REAL NOT NULL, PRIMARY KEY (ns, member, id));
"""
PURGE_EVERY = 300.0


def _record(data: str) -> KeyRecord:
    rec = empty_record("")
    rec.update(json.loads(data))
    return rec


class SqliteStore:
    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time, busy_timeout: float = 5.0) -> None:
        self._db = SqliteDb(path, SCHEMA, busy_timeout=busy_timeout)
        self.path = self._db.path
        self._clock = clock
        self._purged = 0.0

    async def open(self) -> None:
        await self._db.open()

    async def close(self) -> None:
        await self._db.close()

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

        return await self._db.run(load)

    async def changes_since(self, version: int) -> tuple[list[KeyRecord], int]:
        def changes(conn: sqlite3.Connection) -> tuple[list[KeyRecord], int]:
            conn.execute("BEGIN")
            try:
                rows = conn.execute("SELECT data FROM keys WHERE version > ?", (version,)).fetchall()
                return [_record(r[0]) for r in rows], self._version(conn)
            finally:
                conn.execute("COMMIT")

        return await self._db.run(changes)

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

        await self._db.transaction(save)

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

        return await self._db.transaction(add)

    async def add_counts(
        self, namespace: str, counts: Mapping[int, Mapping[str, int]], *, read: range, ttl: float
    ) -> dict[int, dict[str, int]]:
        now = self._clock()
        rows = [(namespace, w, name, n, now + ttl) for w, added in counts.items() for name, n in added.items() if n]

        def add(conn: sqlite3.Connection) -> dict[int, dict[str, int]]:
            conn.execute("DELETE FROM counts WHERE ns = ? AND expires <= ?", (namespace, now))
            conn.executemany(
                "INSERT INTO counts (ns, win, id, n, expires) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (ns, win, id) DO UPDATE SET n = n + excluded.n, expires = excluded.expires",
                rows,
            )
            totals: dict[int, dict[str, int]] = {}
            if read:
                found = conn.execute(
                    "SELECT win, id, n FROM counts WHERE ns = ? AND win >= ? AND win <= ?",
                    (namespace, min(read), max(read)),
                )
                for win, name, n in found.fetchall():
                    if int(win) in read:
                        totals.setdefault(int(win), {})[str(name)] = int(n)
            return totals

        return await self._db.transaction(add)

    async def share_gauges(
        self, namespace: str, member: str, values: Mapping[str, int], *, ttl: float
    ) -> dict[str, int]:
        now = self._clock()

        def share(conn: sqlite3.Connection) -> dict[str, int]:
            conn.execute("DELETE FROM gauges WHERE ns = ? AND (member = ? OR expires <= ?)", (namespace, member, now))
            conn.executemany(
                "INSERT INTO gauges (ns, member, id, n, expires) VALUES (?, ?, ?, ?, ?)",
                [(namespace, member, name, n, now + ttl) for name, n in values.items() if n],
            )
            rows = conn.execute("SELECT id, SUM(n) FROM gauges WHERE ns = ? GROUP BY id", (namespace,)).fetchall()
            return {str(r[0]): int(r[1]) for r in rows}

        return await self._db.transaction(share)

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

        await self._db.transaction(put)

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

        return await self._db.run(get)

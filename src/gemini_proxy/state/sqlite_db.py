"""One SQLite connection for an async store: the plumbing shared by ``sqlite.py`` and ``jobs_sqlite.py``.

stdlib ``sqlite3``, opened on first use (WAL mode, ``synchronous=NORMAL``, the store's schema
script), called in a thread (``asyncio.to_thread``) and serialised by an ``asyncio.Lock``.
Several connections (both stores, several worker processes) may open the same file: WAL lets
readers run while one writes, the busy timeout queues writers. ``transaction`` runs its function
inside ``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` if it raises): no other writer in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

__all__ = ["SqliteDb"]

T = TypeVar("T")


class SqliteDb:
    def __init__(self, path: str | Path, schema: str, *, busy_timeout: float = 5.0) -> None:
        self.path = str(path)
        self._schema = schema
        self._busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(self._schema)
            self._conn = conn
        return self._conn

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(connection)`` in a thread, one call at a time; connects (and creates the schema) first."""
        async with self._lock:
            work = asyncio.ensure_future(asyncio.to_thread(lambda: fn(self._connect())))
            try:
                return await asyncio.shield(work)
            except asyncio.CancelledError:
                # A thread cannot be stopped: the lock is kept until it is done with the connection,
                # or the next call would run on it at the same time (two transactions at once).
                while not work.done():
                    with contextlib.suppress(asyncio.CancelledError):
                        await asyncio.wait([work])
                if not work.cancelled():
                    work.exception()  # retrieved: nobody is left to see it
                raise

    async def transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``run(fn)`` inside ``BEGIN IMMEDIATE``: committed if it returns, rolled back if it raises."""
        return await self.run(lambda conn: _immediate(conn, fn))

    async def open(self) -> None:
        await self.run(lambda conn: None)

    async def close(self) -> None:
        async with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                await asyncio.to_thread(conn.close)


def _immediate(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result

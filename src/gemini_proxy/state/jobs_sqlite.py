"""SQLite ``JobStore``: jobs survive restarts; worker processes on one machine share the queue.

Same file as the key state (``GEMINI_PROXY_DB``), its own table and connection (``SqliteDb`` in
``sqlite_db.py``: a thread, a lock, WAL mode). Every change runs in a ``BEGIN IMMEDIATE``
transaction: a claim reads and marks its jobs with no other writer in between, so two workers
never claim the same job. ``sqlite3`` errors become ``JobStoreError``. ``spec`` and ``outcome``
are JSON text.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from gemini_proxy.state.jobs import (
    STATUSES,
    Job,
    JobStoreError,
    TooManyActiveJobs,
    check_list_args,
    dump_json,
    job_client,
)
from gemini_proxy.state.sqlite_db import SqliteDb

__all__ = ["SqliteJobStore"]

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, agent TEXT NOT NULL, model TEXT NOT NULL, status TEXT NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, ready_at REAL NOT NULL,
    started_at REAL, finished_at REAL, owner TEXT NOT NULL DEFAULT '', lease_until REAL NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0, spec TEXT NOT NULL, outcome TEXT NOT NULL DEFAULT '{}');
CREATE INDEX IF NOT EXISTS jobs_by_created ON jobs (created_at);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, created_at);
CREATE INDEX IF NOT EXISTS jobs_ready ON jobs (status, ready_at);
CREATE INDEX IF NOT EXISTS jobs_by_finish ON jobs (finished_at);
CREATE INDEX IF NOT EXISTS jobs_by_client
    ON jobs (COALESCE(json_extract(spec, '$.client'), 'anon'), status, created_at);
"""
# A job's client, exactly as the index ``jobs_by_client`` has it (SQLite uses an index on an
# expression only for the same expression).
CLIENT = "COALESCE(json_extract(spec, '$.client'), 'anon')"
COLUMNS = (
    "id, agent, model, status, created_at, updated_at, ready_at, started_at, finished_at, owner, lease_until,"
    " attempts, spec, outcome"
)
MUTABLE = ("status", "updated_at", "ready_at", "started_at", "finished_at", "owner", "lease_until", "attempts")


def _row(job: Job) -> tuple[Any, ...]:
    return (
        job.id, job.agent, job.model, job.status, job.created_at, job.updated_at, job.ready_at, job.started_at,
        job.finished_at, job.owner, job.lease_until, job.attempts, dump_json(job.spec), dump_json(job.outcome),
    )


def _job(row: tuple[Any, ...]) -> Job:
    return Job(
        id=row[0], agent=row[1], model=row[2], status=row[3], created_at=row[4], updated_at=row[5],
        ready_at=row[6], started_at=row[7], finished_at=row[8], owner=row[9], lease_until=row[10],
        attempts=row[11], spec=json.loads(row[12]), outcome=json.loads(row[13]),
    )


class SqliteJobStore:
    def __init__(self, path: str | Path, *, busy_timeout: float = 5.0) -> None:
        self._db = SqliteDb(path, SCHEMA, busy_timeout=busy_timeout)
        self.path = self._db.path

    async def _run(self, fn: Callable[[sqlite3.Connection], T], *, write: bool = False) -> T:
        try:
            return await (self._db.transaction(fn) if write else self._db.run(fn))
        except sqlite3.Error as exc:
            raise JobStoreError(f"SQLite: {exc}") from exc

    async def open(self) -> None:
        await self._run(lambda conn: None)

    async def close(self) -> None:
        await self._db.close()

    async def create(self, job: Job, *, max_active: int | None = None) -> tuple[Job, bool]:
        def create(conn: sqlite3.Connection) -> tuple[Job, bool]:
            row = conn.execute(f"SELECT {COLUMNS} FROM jobs WHERE id = ?", (job.id,)).fetchone()
            if row is not None:
                return _job(row), False
            if max_active is not None:  # in the same write transaction as the insert: no one in between
                (active,) = conn.execute(
                    f"SELECT COUNT(*) FROM jobs WHERE {CLIENT} = ? AND status IN ('queued', 'running')",
                    (job_client(job),),
                ).fetchone()
                if active >= max_active:
                    raise TooManyActiveJobs(int(active))
            conn.execute(f"INSERT INTO jobs ({COLUMNS}) VALUES ({','.join('?' * 14)})", _row(job))
            return job, True

        return await self._run(create, write=True)

    async def get(self, job_id: str) -> Job | None:
        def get(conn: sqlite3.Connection) -> Job | None:
            row = conn.execute(f"SELECT {COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
            return _job(row) if row is not None else None

        return await self._run(get)

    async def recent(
        self, *, status: str | None = None, agent: str | None = None, limit: int = 20, client: str | None = None
    ) -> list[Job]:
        check_list_args(status, limit)
        where, args = [], []
        if client is not None:
            where.append(f"{CLIENT} = ?")
            args.append(client)
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if agent is not None:
            where.append("agent = ?")
            args.append(agent)
        sql = f"SELECT {COLUMNS} FROM jobs {'WHERE ' + ' AND '.join(where) if where else ''}"
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        return await self._run(lambda conn: [_job(r) for r in conn.execute(sql, (*args, limit)).fetchall()])

    async def counts(self, client: str | None = None) -> dict[str, int]:
        where = f"WHERE {CLIENT} = ?" if client is not None else ""
        sql = f"SELECT status, COUNT(*) FROM jobs {where} GROUP BY status"
        args: tuple[str, ...] = (client,) if client is not None else ()

        def counts(conn: sqlite3.Connection) -> dict[str, int]:
            found: dict[str, int] = dict.fromkeys(STATUSES, 0)
            for status, n in conn.execute(sql, args).fetchall():
                found[str(status)] = int(n)
            return found

        return await self._run(counts)

    async def claim(self, owner: str, now: float, lease_until: float, limit: int) -> list[Job]:
        ready = (
            f"SELECT {COLUMNS} FROM jobs WHERE (status = 'queued' AND ready_at <= ?)"
            " OR (status = 'running' AND lease_until <= ?)"
            " ORDER BY status = 'running', CASE status WHEN 'queued' THEN ready_at ELSE lease_until END, created_at, id"
            " LIMIT ?"
        )

        def any_ready(conn: sqlite3.Connection) -> bool:
            return conn.execute(ready, (now, now, 1)).fetchone() is not None

        def claim(conn: sqlite3.Connection) -> list[Job]:
            jobs = [_job(r) for r in conn.execute(ready, (now, now, limit)).fetchall()]
            for job in jobs:
                job.status, job.owner, job.lease_until, job.updated_at = "running", owner, lease_until, now
                job.started_at = now if job.started_at is None else job.started_at
                conn.execute(
                    "UPDATE jobs SET status = ?, owner = ?, lease_until = ?, updated_at = ?, started_at = ?"
                    " WHERE id = ?",
                    (job.status, owner, lease_until, now, job.started_at, job.id),
                )
            return jobs

        # Polled often by every worker: a read first, so an idle queue never takes the write lock.
        if not await self._run(any_ready):
            return []
        return await self._run(claim, write=True)

    async def update(self, job: Job, owner: str) -> bool:
        values = [getattr(job, name) for name in MUTABLE]

        def update(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                f"UPDATE jobs SET {', '.join(f'{name} = ?' for name in MUTABLE)}, outcome = ?"
                " WHERE id = ? AND status = 'running' AND owner = ?",
                (*values, dump_json(job.outcome), job.id, owner),
            )
            return cursor.rowcount == 1

        return await self._run(update, write=True)

    async def cancel(self, job_id: str, now: float) -> tuple[Job | None, bool]:
        def cancel(conn: sqlite3.Connection) -> tuple[Job | None, bool]:
            cursor = conn.execute(
                "UPDATE jobs SET status = 'cancelled', finished_at = ?, updated_at = ?, owner = '', lease_until = 0"
                " WHERE id = ? AND status IN ('queued', 'running')",
                (now, now, job_id),
            )
            row = conn.execute(f"SELECT {COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
            return (_job(row) if row is not None else None), cursor.rowcount == 1

        return await self._run(cancel, write=True)

    async def purge(self, finished_before: float) -> int:
        def purge(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "DELETE FROM jobs WHERE status IN ('succeeded', 'failed', 'cancelled') AND finished_at < ?",
                (finished_before,),
            )
            return cursor.rowcount

        return await self._run(purge, write=True)

"""Agent jobs: the ``Job`` record, the ``JobStore`` protocol and ``open_job_store``.

A job moves through these statuses; the store makes every move atomic, so that several worker
processes (SQLite) or replicas (Redis) can share one queue and a job is run by one of them only::

    queued --claim--> running --update--> succeeded | failed
      ^                 |  '---update---> queued (released at shutdown, or parked until ready_at)
      '--(lease expired: claim takes it over)
    queued | running --cancel--> cancelled

* ``claim`` takes the oldest jobs that are ``queued`` with ``ready_at <= now``, and ``running``
  jobs whose ``lease_until`` has passed (their process died), marks them ``running`` for the
  caller (``owner``) until ``lease_until``.
* ``update`` writes a running job's changes (heartbeat, progress, its end) only while the store
  still shows it ``running`` for the same owner: it returns False when the job was cancelled or
  taken over, and the caller drops its work. A final status is therefore written exactly once.
* ``cancel`` ends a queued or running job at once; the runner that holds it learns it from its
  next ``update``.
* ``create(job, max_active=n)`` refuses (``TooManyActiveJobs``) a new job whose client already has
  ``n`` jobs queued or running, counted in the same atomic step as the insert, so that workers and
  replicas sharing the store admit at most ``n`` between them. ``counts(client=...)`` is one
  client's jobs per status (an index per client: SQLite's ``jobs_by_client``, Redis's
  ``jobs:client:{name}:{status}`` sets).

``spec`` (``JobSpec``) is what the client asked for (task, context, metadata, the Gemini request,
deadline) and never changes; ``outcome`` (``JobOutcome``) is what running it produced (result,
usage, error, last error, when it tries again).
Implementations: ``jobs_memory.py``, ``jobs_sqlite.py``, ``jobs_redis.py``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, Protocol, TypedDict

__all__ = [
    "FINAL_STATUSES",
    "STATUSES",
    "Job",
    "JobOutcome",
    "JobSpec",
    "JobStatus",
    "JobStore",
    "JobStoreError",
    "TooManyActiveJobs",
    "dump_json",
    "open_job_store",
]

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
STATUSES: tuple[JobStatus, ...] = ("queued", "running", "succeeded", "failed", "cancelled")
FINAL_STATUSES: frozenset[JobStatus] = frozenset({"succeeded", "failed", "cancelled"})


class JobSpec(TypedDict):
    """What the client asked for (``agents.jobs.new_job``); it never changes."""

    task: str
    context: Any  # text or any JSON, as the client gave it
    metadata: dict[str, str]
    request: dict[str, Any]  # the Gemini generateContent body
    deadline: float  # wall time: the job fails if it has not finished by then
    fingerprint: str  # of what the client asked, for Idempotency-Key replays
    request_id: NotRequired[str]  # the x-request-id of the request that delegated it (none in older jobs)
    client: NotRequired[str]  # the name of the client that delegated it (none in older jobs: ``anon``)


class JobOutcome(TypedDict, total=False):
    """What running the job produced so far."""

    result: dict[str, Any] | None  # text, finish reason (and parsed JSON) of a job that succeeded
    usage: dict[str, int] | None  # Gemini's exact token counts
    error: dict[str, Any] | None  # why a failed job failed: the simple surface's ``{message, code}``
    last_error: dict[str, Any]  # the last failure it was retried after
    retry_at: float  # wall time of its next attempt


def dump_json(value: Any) -> str:
    """A job's JSON members as the SQLite and Redis stores keep them: compact, UTF-8 as is."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class JobStoreError(Exception):
    """The job store could not be reached or failed (Redis down, SQLite locked past its timeout)."""


ACTIVE_STATUSES: tuple[JobStatus, ...] = ("queued", "running")


class TooManyActiveJobs(Exception):
    """``create(job, max_active=n)``: the job's client has ``active`` (>= n) jobs queued or running."""

    def __init__(self, active: int) -> None:
        super().__init__(f"{active} jobs queued or running")
        self.active = active


@dataclass(slots=True)
class Job:
    id: str
    agent: str
    model: str
    status: JobStatus
    created_at: float
    updated_at: float
    ready_at: float  # a queued job is not claimed before this time
    spec: JobSpec
    started_at: float | None = None
    finished_at: float | None = None
    owner: str = ""
    lease_until: float = 0.0
    attempts: int = 0
    outcome: JobOutcome = field(default_factory=lambda: JobOutcome())

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES


class JobStore(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def create(self, job: Job, *, max_active: int | None = None) -> tuple[Job, bool]:
        """Insert ``job``; if its id exists already, leave it and return the stored one and False.
        With ``max_active``, a new job whose client (``job_client``) already has that many jobs
        queued or running raises ``TooManyActiveJobs`` instead (an existing id is still returned)."""
        ...

    async def get(self, job_id: str) -> Job | None: ...

    async def recent(
        self, *, status: str | None = None, agent: str | None = None, limit: int = 20, client: str | None = None
    ) -> list[Job]:
        """Newest first; with ``client``, only that client's jobs (``job_client``)."""
        ...

    async def counts(self, client: str | None = None) -> dict[str, int]:
        """Jobs per status (every status present, zeros included); with ``client``, that client's."""
        ...

    async def claim(self, owner: str, now: float, lease_until: float, limit: int) -> list[Job]: ...

    async def update(self, job: Job, owner: str) -> bool:
        """Write ``job``'s status, times, owner, lease, attempts and outcome if the store still shows
        it ``running`` for ``owner``; False (and nothing written) otherwise."""
        ...

    async def cancel(self, job_id: str, now: float) -> tuple[Job | None, bool]:
        """Cancel a queued or running job. Returns the job as stored afterwards (None: unknown id)
        and whether this call cancelled it."""
        ...

    async def purge(self, finished_before: float) -> int:
        """Delete finished jobs that ended before ``finished_before``; returns how many."""
        ...


def job_client(job: Job) -> str:
    """The client that created ``job`` (its name, in the spec); ``anon`` for a job from before clients."""
    client = job.spec.get("client")
    return client if isinstance(client, str) else "anon"


def check_list_args(status: str | None, limit: int) -> None:
    if status is not None and status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    if limit < 1:
        raise ValueError("limit must be >= 1")


def open_job_store(db_path: str | None, redis_url: str | None) -> JobStore:
    """The job store beside the key state: Redis if a URL is set, else the SQLite file, else memory
    (the same choice as ``open_store``)."""
    if redis_url:
        from gemini_proxy.state.jobs_redis import RedisJobStore

        return RedisJobStore(redis_url)
    if db_path:
        from gemini_proxy.state.jobs_sqlite import SqliteJobStore

        return SqliteJobStore(db_path)
    from gemini_proxy.state.jobs_memory import MemoryJobStore

    return MemoryJobStore()


def sorted_newest(jobs: Sequence[Job]) -> list[Job]:
    return sorted(jobs, key=lambda j: (j.created_at, j.id), reverse=True)

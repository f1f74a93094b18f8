"""In-process ``JobStore``: for ``GEMINI_PROXY_DB=""`` (and the demo). Nothing survives a restart and
worker processes do not see each other's jobs. Every method hands out copies, like a real store."""

from __future__ import annotations

import copy

from gemini_proxy.state.jobs import (
    ACTIVE_STATUSES,
    STATUSES,
    Job,
    TooManyActiveJobs,
    check_list_args,
    job_client,
    sorted_newest,
)

__all__ = ["MemoryJobStore"]


class MemoryJobStore:
    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def create(self, job: Job, *, max_active: int | None = None) -> tuple[Job, bool]:
        existing = self._jobs.get(job.id)
        if existing is not None:
            return copy.deepcopy(existing), False
        if max_active is not None:
            counts = await self.counts(job_client(job))
            active = sum(counts[s] for s in ACTIVE_STATUSES)
            if active >= max_active:
                raise TooManyActiveJobs(active)
        self._jobs[job.id] = copy.deepcopy(job)
        return copy.deepcopy(job), True

    async def get(self, job_id: str) -> Job | None:
        job = self._jobs.get(job_id)
        return copy.deepcopy(job) if job is not None else None

    async def recent(
        self, *, status: str | None = None, agent: str | None = None, limit: int = 20, client: str | None = None
    ) -> list[Job]:
        check_list_args(status, limit)
        found = [
            j
            for j in self._jobs.values()
            if (status is None or j.status == status) and (agent is None or j.agent == agent)
            and (client is None or job_client(j) == client)
        ]
        return [copy.deepcopy(j) for j in sorted_newest(found)[:limit]]

    async def counts(self, client: str | None = None) -> dict[str, int]:
        counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
        for job in self._jobs.values():
            if client is None or job_client(job) == client:
                counts[job.status] += 1
        return counts

    async def claim(self, owner: str, now: float, lease_until: float, limit: int) -> list[Job]:
        ready = [
            j
            for j in self._jobs.values()
            if (j.status == "queued" and j.ready_at <= now) or (j.status == "running" and j.lease_until <= now)
        ]
        # Queued jobs first, the longest ready first; then the jobs of dead owners.
        ready.sort(key=lambda j: (j.status == "running", j.ready_at if j.status == "queued" else j.lease_until,
                                  j.created_at, j.id))
        claimed = []
        for job in ready[:limit]:
            job.status, job.owner, job.lease_until, job.updated_at = "running", owner, lease_until, now
            if job.started_at is None:
                job.started_at = now
            claimed.append(copy.deepcopy(job))
        return claimed

    async def update(self, job: Job, owner: str) -> bool:
        stored = self._jobs.get(job.id)
        if stored is None or stored.status != "running" or stored.owner != owner:
            return False
        spec = stored.spec
        self._jobs[job.id] = copy.deepcopy(job)
        self._jobs[job.id].spec = spec
        return True

    async def cancel(self, job_id: str, now: float) -> tuple[Job | None, bool]:
        job = self._jobs.get(job_id)
        if job is None:
            return None, False
        if job.finished:
            return copy.deepcopy(job), False
        job.status, job.finished_at, job.updated_at, job.owner, job.lease_until = "cancelled", now, now, "", 0.0
        return copy.deepcopy(job), True

    async def purge(self, finished_before: float) -> int:
        old = [
            j.id
            for j in self._jobs.values()
            if j.finished and j.finished_at is not None and j.finished_at < finished_before
        ]
        for job_id in old:
            del self._jobs[job_id]
        return len(old)

"""The job scheduler: claims jobs from the store, keeps their leases, purges old ones.

One ``JobScheduler`` per process. Its loop (woken at once by a local delegate, else every
``POLL_INTERVAL``) claims as many jobs as it has free slots (``concurrency``), renews the lease
of the jobs it runs (every ``lease / 3`` s, at most ``HEARTBEAT_MAX`` s) and purges finished jobs
older than ``retention``. Each claimed job runs in its own task (``runner.JobRunner.run``). A
renewal the store refuses means the job was cancelled (or, after a long stall, taken over by
another process): its task is cancelled, which cancels its upstream call.

At shutdown running jobs are cancelled and queued again, so the next start resumes them; a
process that dies holding jobs loses them to whoever claims after their lease ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket

from gemini_proxy.agents.clock import Clock
from gemini_proxy.agents.runner import CLOSE_TIMEOUT, Caller, JobMetrics, JobRunner, Run
from gemini_proxy.state.jobs import Job, JobStore, JobStoreError

__all__ = ["JobScheduler"]

log = logging.getLogger("gemini_proxy.agents")

POLL_INTERVAL = 0.5
HEARTBEAT_MAX = 2.0
PURGE_EVERY = 60.0


class JobScheduler:
    def __init__(
        self,
        store: JobStore,
        gateway: Caller,
        metrics: JobMetrics,
        *,
        concurrency: int,
        lease: float,
        retention: float,
        clock: Clock | None = None,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._clock = clock or Clock()
        self._runner = JobRunner(store, gateway, metrics, owner=self.owner, clock=self._clock)
        self._concurrency = concurrency
        self._lease = lease
        self._retention = retention
        self._runs: dict[str, Run] = {}
        self._wake = asyncio.Event()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._degraded = False

    @property
    def running(self) -> int:
        return len(self._runs)

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="agent-jobs")

    async def close(self) -> None:
        """Stop claiming; cancel running jobs and queue them again for the next start."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            # Let the loop end its turn rather than cancel it: a claim cancelled half-way could be
            # committed all the same (SQLite runs in a thread), leaving jobs no task runs.
            done, _ = await asyncio.wait({self._task}, timeout=CLOSE_TIMEOUT)
            if not done:
                self._task.cancel()
                await asyncio.wait({self._task}, timeout=1.0)
        runs = list(self._runs.values())
        tasks = set()
        for run in runs:
            if run.task is not None:
                run.stop = "shutdown"
                run.task.cancel()
                tasks.add(run.task)
        if tasks:
            await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT)
        for run in runs:
            if not run.began:  # cancelled before its task began: run() never ran to queue it again
                await self._runner.requeue(run)
            self._runs.pop(run.job.id, None)

    def wake(self) -> None:
        """A job was queued here: claim it now rather than at the next poll."""
        self._wake.set()

    async def changed(self, timeout: float) -> None:
        """Returns when a job ends in this process, or after ``timeout`` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def stop_local(self, job_id: str) -> None:
        """The job was cancelled: if it runs here, cancel its upstream call now."""
        run = self._runs.get(job_id)
        if run is not None and run.task is not None and run.stop is None:
            run.stop = "cancelled"
            run.task.cancel()

    # -- the loop --------------------------------------------------------------------------------
    async def _loop(self) -> None:
        next_beat = next_purge = 0.0
        while not self._stopping:
            self._wake.clear()
            now = self._clock()
            try:
                if now >= next_beat:
                    next_beat = now + min(self._lease / 3, HEARTBEAT_MAX)
                    await self._heartbeat(now)
                if now >= next_purge:
                    next_purge = now + PURGE_EVERY
                    purged = await self.store.purge(now - self._retention)
                    if purged:
                        log.info("purged %d finished agent jobs past retention", purged)
                free = self._concurrency - len(self._runs)
                if free > 0:
                    for job in await self.store.claim(self.owner, now, now + self._lease, free):
                        # Our own job, its lease run out while the store was away: it still runs here.
                        if job.id not in self._runs:
                            self._start(job)
                if self._degraded:
                    self._degraded = False
                    log.info("agent job store reachable again")
            except JobStoreError as exc:
                if not self._degraded:
                    self._degraded = True
                    log.warning("agent job store unreachable (%s); jobs wait until it is back", exc)
            except Exception:  # a bug here must not stop the scheduler
                log.exception("agent job loop failed")
            await self._clock.wait(self._wake, POLL_INTERVAL)

    async def _heartbeat(self, now: float) -> None:
        for run in list(self._runs.values()):
            if run.stop is not None or run.job.finished:
                continue
            if not await self._runner.renew(run, now + self._lease) and run.task is not None and run.stop is None:
                run.stop = "lost"
                run.task.cancel()

    def _start(self, job: Job) -> None:
        run = Run(job)
        self._runs[job.id] = run
        run.task = asyncio.get_running_loop().create_task(self._runner.run(run), name=f"agent-job-{job.id}")
        # Not in run()'s finally: a task cancelled before its first step never runs it.
        run.task.add_done_callback(lambda _: self._forget(run))
        log.info("agent job started", extra={"job": job.id, "agent": job.agent, "model": job.model})

    def _forget(self, run: Run) -> None:
        if self._runs.get(run.job.id) is run:
            del self._runs[run.job.id]
        self._notify()
        self._wake.set()  # a slot is free

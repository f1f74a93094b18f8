"""The job runner: claims jobs from the store and runs them through the key pool.

One ``JobRunner`` per process. Its loop (woken at once by a local delegate, else every
``POLL_INTERVAL``) claims as many jobs as it has free slots (``concurrency``), renews the lease
of the jobs it runs (every ``lease / 3`` s, at most ``HEARTBEAT_MAX`` s) and purges finished jobs
older than ``retention``. A renewal the store refuses means the job was cancelled (or, after a
long stall, taken over by another process): its task is cancelled, which cancels its upstream
call.

A job's run: ``Gateway.call`` (rotation, cooldowns and retries on other keys as for any request),
then:

* success -> ``succeeded`` with the text, finish reason and Gemini's exact usage;
* every key spent (``NoKeyAvailable``) -> wait ``retry_after`` and try again; a wait longer than
  ``PARK_AFTER`` gives the slot back: the job is queued again with ``ready_at`` = when a key frees;
* server errors (5xx, timeouts; the gateway already tried other keys) -> retried with backoff
  while the job's retry budget lasts: one ``Budget`` per run, shared by all its gateway calls, of
  ``JOB_CALLS`` calls' worth of failed upstream attempts (8 with the default 4 attempts; they used
  to multiply, 5 tries x 4 attempts);
* Gemini refusing the request (4xx), or a blocked/filtered answer -> ``failed`` at once;
* past the job's deadline (``GEMINI_PROXY_AGENTS_JOB_TIMEOUT`` after it was accepted) -> ``failed``.

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
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from gemini_proxy.agents.gemini import AnswerFailure, read_answer
from gemini_proxy.errors import NoKeyAvailable, ProxyError, UpstreamStatusError, UpstreamUnavailable
from gemini_proxy.state.jobs import Job, JobStore, JobStoreError
from gemini_proxy.translate import error_to_simple
from gemini_proxy.upstream.gateway import Answer
from gemini_proxy.upstream.policy import Budget

__all__ = ["JobRunner"]

log = logging.getLogger("gemini_proxy.agents")

POLL_INTERVAL = 0.5
HEARTBEAT_MAX = 2.0
PURGE_EVERY = 60.0
PARK_AFTER = 10.0
MIN_RETRY = 0.25
JOB_CALLS = 2
CLOSE_TIMEOUT = 5.0


class Caller(Protocol):
    def budget(self, calls: int = 1) -> Budget: ...

    async def call(
        self, model: str, method: str, path: str, *, body: bytes | None = None, budget: Budget | None = None
    ) -> Answer: ...


class JobMetrics(Protocol):
    def observe_job(self, agent: str, status: str) -> None: ...

    def observe_tokens(self, model: str, prompt: int, completion: int) -> None: ...


@dataclass(slots=True)
class _Run:
    job: Job
    task: asyncio.Task[None] | None = None
    stop: str | None = None  # why its task was cancelled: "shutdown", "lost" or "cancelled"
    began: bool = False  # _guard ran: a task cancelled before its first step never does
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def error_of(exc: ProxyError) -> dict[str, Any]:
    """The simple surface's error object for ``exc`` (Google's errors mapped, keys scrubbed)."""
    return error_to_simple(exc)[1]


def _is_transient(exc: ProxyError) -> bool:
    if isinstance(exc, UpstreamUnavailable):
        return True
    return isinstance(exc, UpstreamStatusError) and (exc.upstream_status >= 500 or exc.upstream_status == 429)


class JobRunner:
    def __init__(
        self,
        store: JobStore,
        gateway: Caller,
        metrics: JobMetrics,
        *,
        concurrency: int,
        lease: float,
        retention: float,
        clock: Callable[[], float] = time.time,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._gateway = gateway
        self._metrics = metrics
        self._concurrency = concurrency
        self._lease = lease
        self._retention = retention
        self._clock = clock
        self._runs: dict[str, _Run] = {}
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
            if not run.began:  # cancelled before its task began: _guard never ran to queue it again
                await self._requeue(run)
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
            except Exception:  # a bug here must not stop the runner
                log.exception("agent job loop failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_INTERVAL)

    async def _heartbeat(self, now: float) -> None:
        for run in list(self._runs.values()):
            if run.stop is not None or run.job.finished:
                continue

            def renew(job: Job) -> None:
                job.lease_until = now + self._lease

            if not await self._write(run, renew) and run.task is not None and run.stop is None:
                run.stop = "lost"
                run.task.cancel()

    def _start(self, job: Job) -> None:
        run = _Run(job)
        self._runs[job.id] = run
        run.task = asyncio.get_running_loop().create_task(self._guard(run), name=f"agent-job-{job.id}")
        # Not in _guard's finally: a task cancelled before its first step never runs it.
        run.task.add_done_callback(lambda _: self._forget(run))
        log.info("agent job started", extra={"job": job.id, "agent": job.agent, "model": job.model})

    async def _write(self, run: _Run, change: Callable[[Job], None]) -> bool:
        """Apply ``change`` to the job and write it, while the store still gives the job to us."""
        async with run.lock:
            change(run.job)
            run.job.updated_at = self._clock()
            return await self.store.update(run.job, self.owner)

    async def _guard(self, run: _Run) -> None:
        run.began = True
        try:
            await self._execute(run)
        except asyncio.CancelledError:
            if run.stop == "shutdown":
                await self._requeue(run)
            elif run.stop is None:
                raise
        except JobStoreError as exc:
            log.warning("agent job %s: state store failed (%s); it runs again when its lease ends", run.job.id, exc)
        except Exception:
            log.exception("agent job failed unexpectedly", extra={"job": run.job.id})
            error = {"message": "Internal error in gemini-proxy.", "code": "internal_error"}
            with contextlib.suppress(Exception):
                await self._finish(run, "failed", error=error)

    def _forget(self, run: _Run) -> None:
        if self._runs.get(run.job.id) is run:
            del self._runs[run.job.id]
        self._notify()
        self._wake.set()  # a slot is free

    async def _requeue(self, run: _Run) -> None:
        def release(job: Job) -> None:
            job.status, job.owner, job.lease_until, job.ready_at = "queued", "", 0.0, self._clock()

        try:
            await asyncio.wait_for(self._write(run, release), CLOSE_TIMEOUT)
        except Exception as exc:  # its lease ends on its own; the job is resumed then
            log.warning("agent job %s could not be queued again at shutdown (%s)", run.job.id, exc)

    # -- one job ---------------------------------------------------------------------------------
    async def _execute(self, run: _Run) -> None:
        job = run.job
        deadline = float(job.spec["deadline"])
        request: dict[str, Any] = job.spec["request"]
        body = orjson.dumps(request)
        json_mime = (request.get("generationConfig") or {}).get("responseMimeType") == "application/json"
        path = f"/v1beta/models/{job.model}:generateContent"
        budget = self._gateway.budget(JOB_CALLS)  # every attempt of this run, across its calls
        server_errors = 0
        while True:
            now = self._clock()
            if now >= deadline:
                return await self._timed_out(run)

            def attempt(job: Job) -> None:
                job.attempts += 1
                job.outcome.pop("retry_at", None)

            if not await self._write(run, attempt):
                return
            try:
                async with asyncio.timeout(deadline - now):
                    answer = await self._gateway.call(job.model, "POST", path, body=body, budget=budget)
            except TimeoutError:
                return await self._timed_out(run)
            except NoKeyAvailable as exc:
                delay = max(MIN_RETRY, exc.retry_after)
                if not await self._retry_later(run, error_of(exc), delay, park=delay > PARK_AFTER):
                    return
            except ProxyError as exc:
                if not _is_transient(exc) or budget.exhausted:
                    return await self._finish(run, "failed", error=error_of(exc))
                server_errors += 1
                if not await self._retry_later(run, error_of(exc), min(2.0**server_errors, 30.0), park=False):
                    return
            else:
                try:
                    result, usage = read_answer(answer.json(), json_mime=json_mime)
                except AnswerFailure as exc:
                    error = {"message": exc.message, "code": exc.code}
                    return await self._finish(run, "failed", error=error, usage=exc.usage)
                return await self._finish(run, "succeeded", result=result, usage=usage)

    async def _retry_later(self, run: _Run, error: dict[str, Any], delay: float, *, park: bool) -> bool:
        """Record why the job waits and when it tries again; then wait (or give the slot back).
        False when the job must not go on here (parked, cancelled, taken over, past its deadline)."""
        now = self._clock()
        retry_at = now + delay
        if retry_at >= float(run.job.spec["deadline"]):
            await self._finish(run, "failed", error=error)
            return False

        def record(job: Job) -> None:
            job.outcome["last_error"] = {**error, "at": round(now, 3)}
            job.outcome["retry_at"] = retry_at
            if park:
                job.status, job.owner, job.lease_until, job.ready_at = "queued", "", 0.0, retry_at

        if not await self._write(run, record) or park:
            return False
        await asyncio.sleep(delay)
        return True

    async def _timed_out(self, run: _Run) -> None:
        last = run.job.outcome.get("last_error")
        detail = f" Last error: {last['message']}" if isinstance(last, dict) else ""
        timeout = float(run.job.spec["deadline"]) - run.job.created_at
        message = f"The job did not finish within its deadline ({timeout:g} s after it was accepted).{detail}"
        await self._finish(run, "failed", error={"message": message, "code": "job_timeout"})

    async def _finish(
        self,
        run: _Run,
        status: str,
        *,
        result: dict[str, Any] | None = None,
        usage: dict[str, int] | None = None,
        error: dict[str, Any] | None = None,
    ) -> None:
        now = self._clock()

        def end(job: Job) -> None:
            job.status, job.finished_at, job.owner, job.lease_until = status, now, "", 0.0
            job.outcome.update(result=result, usage=usage, error=error)
            job.outcome.pop("retry_at", None)

        job = run.job
        if not await self._write(run, end):
            return  # cancelled meanwhile: the cancel is the job's end
        self._metrics.observe_job(job.agent, status)
        if usage:
            self._metrics.observe_tokens(job.model, usage["prompt_tokens"], usage["completion_tokens"])
        log.info(
            "agent job finished",
            extra={"job": job.id, "agent": job.agent, "status": status, "attempts": job.attempts,
                   "error": (error or {}).get("code")},
        )

"""Running one job: its gateway calls, its retries and waits, and its end.

The scheduler (``scheduler.py``) claims jobs and gives each one a task that runs
``JobRunner.run``. A job's run: ``Gateway.call`` (rotation, cooldowns and retries on other keys
as for any request), then:

* success -> ``succeeded`` with the text, finish reason and Gemini's exact usage;
* every key spent (``NoKeyAvailable``) -> wait ``retry_after`` and try again; a wait longer than
  ``PARK_AFTER`` gives the slot back: the job is queued again with ``ready_at`` = when a key frees;
* server errors (5xx, timeouts; the gateway already tried other keys) -> retried with backoff
  while the job's retry budget lasts: one ``Budget`` per run, shared by all its gateway calls, of
  ``JOB_CALLS`` calls' worth of failed upstream attempts (8 with the default 4 attempts; they used
  to multiply, 5 tries x 4 attempts);
* Gemini refusing the request (4xx), or a blocked/filtered answer -> ``failed`` at once;
* past the job's deadline (``GEMINI_PROXY_AGENTS_JOB_TIMEOUT`` after it was accepted) -> ``failed``.

Every change is written with ``JobStore.update`` while the store still gives the job to this
process; when it does not (cancelled, taken over), the run stops without writing more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import orjson

from gemini_proxy.agents.clock import Clock
from gemini_proxy.agents.gemini import AnswerFailure, read_answer
from gemini_proxy.errors import NoKeyAvailable, ProxyError, UpstreamStatusError, UpstreamUnavailable
from gemini_proxy.observability import client_name, request_id
from gemini_proxy.state.jobs import Job, JobStore, JobStoreError, job_client
from gemini_proxy.translate import error_to_simple
from gemini_proxy.upstream import urls
from gemini_proxy.upstream.gateway import Answer
from gemini_proxy.upstream.policy import Budget

__all__ = ["JobRunner", "Run"]

log = logging.getLogger("gemini_proxy.agents")

PARK_AFTER = 10.0
MIN_RETRY = 0.25
JOB_CALLS = 2
CLOSE_TIMEOUT = 5.0

Stop = Literal["shutdown", "lost", "cancelled"]
Ending = Literal["succeeded", "failed"]


class Caller(Protocol):
    def budget(self, calls: int = 1) -> Budget: ...

    async def call(
        self, model: str, method: str, path: str, *, body: bytes | None = None, budget: Budget | None = None
    ) -> Answer: ...


class JobMetrics(Protocol):
    def observe_job(self, agent: str, status: str) -> None: ...


@dataclass(slots=True)
class Run:
    """A job this process runs, and its task."""

    job: Job
    task: asyncio.Task[None] | None = None
    stop: Stop | None = None  # why its task was cancelled
    began: bool = False  # run() began: a task cancelled before its first step never does
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def error_of(exc: ProxyError) -> dict[str, Any]:
    """The simple surface's error object for ``exc`` (Google's errors mapped, keys scrubbed)."""
    return error_to_simple(exc)[1]


def _is_transient(exc: ProxyError) -> bool:
    if isinstance(exc, UpstreamUnavailable):
        return True
    return isinstance(exc, UpstreamStatusError) and (exc.upstream_status >= 500 or exc.upstream_status == 429)


class JobRunner:
    """Runs jobs for ``owner``, one ``run`` call per job (they share nothing but the store)."""

    def __init__(
        self, store: JobStore, gateway: Caller, metrics: JobMetrics, *, owner: str, clock: Clock
    ) -> None:
        self.store = store
        self.owner = owner
        self._gateway = gateway
        self._metrics = metrics
        self._clock = clock

    async def run(self, run: Run) -> None:
        """The job's task: run it to its end; a cancel at shutdown queues it again."""
        run.began = True
        # Its log lines carry the id of the request that delegated it (the job is its own task).
        request_id.set(run.job.spec.get("request_id"))
        client_name.set(job_client(run.job))  # its usage is its client's (and its log lines say so)
        try:
            await self._execute(run)
        except asyncio.CancelledError:
            if run.stop == "shutdown":
                await self.requeue(run)
            elif run.stop is None:
                raise
        except JobStoreError as exc:
            log.warning("agent job %s: state store failed (%s); it runs again when its lease ends", run.job.id, exc)
        except Exception:
            log.exception("agent job failed unexpectedly", extra={"job": run.job.id})
            error = {"message": "Internal error in gemini-proxy.", "code": "internal_error"}
            with contextlib.suppress(Exception):
                await self._finish(run, "failed", error=error)

    async def renew(self, run: Run, lease_until: float) -> bool:
        """Extends the job's lease; False when the store no longer gives the job to us."""

        def renew(job: Job) -> None:
            job.lease_until = lease_until

        return await self._write(run, renew)

    async def requeue(self, run: Run) -> None:
        """Gives the job back to the queue, ready now (at shutdown)."""

        def release(job: Job) -> None:
            job.status, job.owner, job.lease_until, job.ready_at = "queued", "", 0.0, self._clock()

        try:
            await asyncio.wait_for(self._write(run, release), CLOSE_TIMEOUT)
        except Exception as exc:  # its lease ends on its own; the job is resumed then
            log.warning("agent job %s could not be queued again at shutdown (%s)", run.job.id, exc)

    async def _write(self, run: Run, change: Callable[[Job], None]) -> bool:
        """Apply ``change`` to the job and write it, while the store still gives the job to us."""
        async with run.lock:
            change(run.job)
            run.job.updated_at = self._clock()
            return await self.store.update(run.job, self.owner)

    # -- one job ---------------------------------------------------------------------------------
    async def _execute(self, run: Run) -> None:
        job = run.job
        deadline = float(job.spec["deadline"])
        request: dict[str, Any] = job.spec["request"]
        body = orjson.dumps(request)
        json_mime = (request.get("generationConfig") or {}).get("responseMimeType") == "application/json"
        path = urls.model_method(job.model, urls.GENERATE)
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
                async with self._clock.timeout(deadline - now):
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

    async def _retry_later(self, run: Run, error: dict[str, Any], delay: float, *, park: bool) -> bool:
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
        await self._clock.sleep(delay)
        return True

    async def _timed_out(self, run: Run) -> None:
        last = run.job.outcome.get("last_error")
        detail = f" Last error: {last['message']}" if isinstance(last, dict) else ""
        timeout = float(run.job.spec["deadline"]) - run.job.created_at
        message = f"The job did not finish within its deadline ({timeout:g} s after it was accepted).{detail}"
        await self._finish(run, "failed", error={"message": message, "code": "job_timeout"})

    async def _finish(
        self,
        run: Run,
        status: Ending,
        *,
        result: dict[str, Any] | None = None,
        usage: dict[str, int] | None = None,
        error: dict[str, Any] | None = None,
    ) -> None:
        now = self._clock()

        def end(job: Job) -> None:
            job.status, job.finished_at, job.owner, job.lease_until = status, now, "", 0.0
            job.outcome.update({"result": result, "usage": usage, "error": error})
            job.outcome.pop("retry_at", None)

        job = run.job
        if not await self._write(run, end):
            return  # cancelled meanwhile: the cancel is the job's end
        self._metrics.observe_job(job.agent, status)
        log.info(
            "agent job finished",
            extra={"job": job.id, "agent": job.agent, "status": status, "attempts": job.attempts,
                   "error": (error or {}).get("code")},
        )

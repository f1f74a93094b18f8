"""What the routes call: delegate, look up, list, cancel and wait for jobs.

``Agents`` holds the registry, the job store and this process's scheduler (``runner``). A store that cannot be
reached is the client's 503 (``ServiceUnavailable``), never a 500.

A client's limits on jobs (``clients.Client``) are checked here, for REST and MCP alike:
``max_queued_jobs`` by the store as it creates the job (``JobStore.create(max_active=...)``: one
atomic count across workers and replicas), a 429 (``ClientLimitExceeded``) over it;
``max_job_context_bytes`` (else ``GEMINI_PROXY_MAX_JOB_CONTEXT_BYTES``) by ``parse_delegate``
with ``context_limit(client)``, a 413 before anything is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator

from gemini_proxy.agents.jobs import ContextLimit, Delegation, new_job
from gemini_proxy.agents.registry import AgentRegistry
from gemini_proxy.agents.runner import JobMetrics
from gemini_proxy.agents.scheduler import JobScheduler
from gemini_proxy.clients import ADMIN, Client
from gemini_proxy.errors import ClientLimitExceeded, Conflict, NotFound, ServiceUnavailable
from gemini_proxy.observability import request_id
from gemini_proxy.state.jobs import Job, JobStore, JobStoreError, TooManyActiveJobs, job_client
from gemini_proxy.upstream.allowed import ModelScope, check_model

__all__ = ["Agents"]

log = logging.getLogger("gemini_proxy")

WAIT_POLL = 0.25  # how often a waiting client re-reads a job that another process runs
# Retry-After of a client at its max_queued_jobs: when one of its jobs ends is not known ahead.
QUEUED_RETRY_AFTER = 5.0


@contextlib.contextmanager
def _store_errors() -> Iterator[None]:
    try:
        yield
    except JobStoreError as exc:
        raise ServiceUnavailable(
            "The agent job store is unreachable; try again shortly.", code="job_store_unavailable"
        ) from exc


class Agents:
    def __init__(
        self,
        registry: AgentRegistry,
        store: JobStore,
        runner: JobScheduler,
        metrics: JobMetrics,
        *,
        job_timeout: float,
        max_context_bytes: int = 1024 * 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry
        self.store = store
        self.runner = runner
        self._metrics = metrics
        self._job_timeout = job_timeout
        self._max_context_bytes = max_context_bytes
        self._clock = clock

    def context_limit(self, client: Client) -> ContextLimit:
        """The size limit of ``client``'s jobs: its own ``max_job_context_bytes``, else the proxy's."""
        if client.max_job_context_bytes is not None:
            return ContextLimit(client.max_job_context_bytes, f"max_job_context_bytes of client {client.name!r}")
        return ContextLimit(self._max_context_bytes, "GEMINI_PROXY_MAX_JOB_CONTEXT_BYTES")

    def use_registry(self, registry: AgentRegistry) -> None:
        """Agents from now on (the agents file changed): new delegations see them; queued and
        running jobs keep the request they were given."""
        log.info("agents file changed: %d agents (%s)", len(registry.names()), ", ".join(registry.names()))
        self.registry = registry

    async def delegate(self, job_id: str, delegation: Delegation, client: Client) -> tuple[Job, bool]:
        """Queue a job for ``client``; with a reused ``job_id`` (Idempotency-Key) the existing job and False.
        A reused id with a different request is a ``Conflict``; a client with ``max_queued_jobs``
        jobs queued or running gets ``ClientLimitExceeded`` (and nothing is stored)."""
        now = self._clock()
        job = new_job(job_id, delegation, now=now, timeout=self._job_timeout, request_id=request_id.get() or "",
                      client=client.name)  # fmt: skip
        if client.models is not None:  # the job's model, before it is queued (the runner has no client)
            check_model(delegation.model, ModelScope.of(client.name, client.models))
        limit = client.max_queued_jobs
        with _store_errors():
            try:
                stored, created = await self.store.create(job, max_active=limit)
            except TooManyActiveJobs as exc:
                raise ClientLimitExceeded(
                    f"Client {client.name!r} has {exc.active} agent jobs queued or running, its limit"
                    f" (max_queued_jobs {limit}); retry after {QUEUED_RETRY_AFTER:g} s or once one has finished.",
                    retry_after=QUEUED_RETRY_AFTER,
                ) from None
        if created:
            self.runner.wake()
        elif stored.spec.get("fingerprint") != delegation.fingerprint:
            raise Conflict(
                "This Idempotency-Key was already used for a different request (job "
                f"{stored.id}); use a new key for a new job.",
                param="Idempotency-Key",
                code="idempotency_key_reused",
            )
        return stored, created

    async def get(self, job_id: str, client: Client) -> Job:
        """The job, if ``client`` created it (the admin sees every job); else ``NotFound``, as for
        an unknown id: another client's job id tells nothing."""
        with _store_errors():
            job = await self.store.get(job_id)
        if job is None or not (client.admin or job_client(job) == client.name):
            raise NotFound(f"No job with id {job_id!r} (finished jobs are kept for a limited time).", param="id",
                           code="job_not_found")
        return job

    async def recent(self, *, status: str | None, agent: str | None, limit: int, client: Client) -> list[Job]:
        """``client``'s jobs, newest first (the admin's: everyone's)."""
        with _store_errors():
            return await self.store.recent(
                status=status, agent=agent, limit=limit, client=None if client.admin else client.name
            )

    async def counts(self, client: Client | None = None) -> dict[str, int]:
        """``client``'s jobs per status (the admin's, or without a client: everyone's)."""
        with _store_errors():
            return await self.store.counts(None if client is None or client.admin else client.name)

    async def cancel(self, job_id: str, client: Client) -> Job:
        """Cancel a queued or running job of ``client`` (a running job's upstream call is cancelled:
        at once in this process, within a heartbeat in another). A finished job is a ``Conflict``;
        another client's job is ``NotFound``."""
        await self.get(job_id, client)
        with _store_errors():
            job, changed = await self.store.cancel(job_id, self._clock())
        if job is None:
            raise NotFound(f"No job with id {job_id!r}.", param="id", code="job_not_found")
        if changed:
            self.runner.stop_local(job_id)
            self._metrics.observe_job(job.agent, "cancelled")
        elif job.status != "cancelled":
            raise Conflict(f"Job {job_id} has already {job.status}; only queued or running jobs can be cancelled.",
                           param="id", code="job_finished")
        return job

    async def wait(self, job: Job, seconds: float) -> Job:  # a job the caller has already been given
        """The job once it has finished, or as it stands after ``seconds``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not job.finished:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await self.runner.changed(min(remaining, WAIT_POLL))
            try:
                job = await self.get(job.id, ADMIN)
            except ServiceUnavailable:  # the job exists: answer with what is known (202), not a 503
                break
        return job

"""The job scheduler's and runner's own decisions, with a scripted stand-in for the gateway:
parking a job while every key is spent for long, deadlines, shutdown, a lost lease, retention.
Time is a ``FakeClock`` the tests move: nothing here sleeps. (The real gateway in front of the
simulator is exercised by tests/e2e/test_agents*.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from gemini_proxy.agents.jobs import parse_delegate
from gemini_proxy.agents.registry import load_agents
from gemini_proxy.agents.scheduler import POLL_INTERVAL, JobScheduler
from gemini_proxy.errors import NoKeyAvailable
from gemini_proxy.observability import Metrics
from gemini_proxy.state.jobs import Job
from gemini_proxy.state.jobs_memory import MemoryJobStore
from gemini_proxy.upstream.gateway import Answer
from gemini_proxy.upstream.policy import Budget
from tests.agents.clock import FakeClock, idle

OK = {"candidates": [{"content": {"parts": [{"text": "done"}]}, "finishReason": "STOP"}],
      "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1, "totalTokenCount": 4}}


class Scripted:
    """Answers each call with the next step: an exception to raise, "hang", or a JSON answer."""

    def __init__(self, *steps: Any) -> None:
        self.steps = list(steps)
        self.calls = 0
        self.cancelled = 0

    def budget(self, calls: int = 1) -> Budget:
        return Budget(4 * calls)

    async def call(
        self, model: str, method: str, path: str, *, body: bytes | None = None, budget: Budget | None = None
    ) -> Answer:
        self.calls += 1
        step = self.steps.pop(0) if self.steps else OK
        if isinstance(step, BaseException):
            raise step
        if step == "hang":  # an upstream that never answers
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        return Answer(200, {}, orjson.dumps(step), "k1")


def make_job(job_id: str, *, now: float, timeout: float = 60.0) -> Job:
    from gemini_proxy.agents.jobs import new_job

    delegation = parse_delegate({"agent": "general", "task": "t"}, load_agents(None), aliases={}, default_model="m")
    return new_job(job_id, delegation, now=now, timeout=timeout)


@pytest.fixture
async def store() -> AsyncIterator[MemoryJobStore]:
    yield MemoryJobStore()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def settle(store: MemoryJobStore, job_id: str, predicate: Any) -> Job:
    """The job once ``predicate`` holds, after letting the runner do what it can without time passing."""
    for _ in range(200):
        job = await store.get(job_id)
        assert job is not None
        if predicate(job):
            return job
        await asyncio.sleep(0)
    raise AssertionError(job)


def runner(
    store: MemoryJobStore, gateway: Scripted, clock: FakeClock, metrics: Metrics | None = None, **kw: Any
) -> JobScheduler:
    return JobScheduler(store, gateway, metrics or Metrics(), concurrency=kw.pop("concurrency", 2),
                        lease=kw.pop("lease", 30.0), retention=kw.pop("retention", 3600.0), clock=clock, **kw)


async def test_a_long_wait_for_keys_gives_the_slot_back(store: MemoryJobStore, clock: FakeClock) -> None:
    spent = NoKeyAvailable("All 3 keys are out of daily quota.", retry_after=3600)
    gateway = Scripted(spent)
    r = runner(store, gateway, clock)
    await store.create(make_job("job_a", now=clock(), timeout=7200))
    await r.start()
    try:
        job = await settle(store, "job_a", lambda j: j.status == "queued" and j.attempts == 1)
        assert job.owner == "" and job.ready_at == clock() + 3600
        assert job.outcome["retry_at"] == job.ready_at
        assert job.outcome["last_error"]["code"] == "rate_limit_exceeded"
        assert "daily quota" in job.outcome["last_error"]["message"]
        await clock.advance(10 * POLL_INTERVAL)  # polls come and go: the job is not ready
        assert r.running == 0 and gateway.calls == 1
        await clock.advance(3600)  # a key is free again: the job is claimed and succeeds
        assert (await settle(store, "job_a", lambda j: j.finished)).status == "succeeded" and gateway.calls == 2
    finally:
        await r.close()


async def test_a_short_wait_for_keys_keeps_the_slot_and_tries_again(store: MemoryJobStore, clock: FakeClock) -> None:
    gateway = Scripted(NoKeyAvailable("All keys are cooling down.", retry_after=4))
    r = runner(store, gateway, clock)
    await store.create(make_job("job_a", now=clock()))
    await r.start()
    try:
        job = await settle(store, "job_a", lambda j: "retry_at" in j.outcome)
        assert job.status == "running" and job.outcome["retry_at"] == clock() + 4 and r.running == 1
        await clock.advance(3.9)
        assert gateway.calls == 1
        await clock.advance(0.1)
        job = await settle(store, "job_a", lambda j: j.finished)
        assert job.status == "succeeded" and job.attempts == 2 and gateway.calls == 2
    finally:
        await r.close()


async def test_keys_spent_past_the_deadline_fail_the_job_now(store: MemoryJobStore, clock: FakeClock) -> None:
    metrics = Metrics()
    r = runner(store, Scripted(NoKeyAvailable("All keys are cooling down.", retry_after=120)), clock, metrics)
    await store.create(make_job("job_a", now=clock(), timeout=60))
    await r.start()
    try:
        job = await settle(store, "job_a", lambda j: j.finished)
        assert job.status == "failed" and job.outcome["error"]["message"] == "All keys are cooling down."
        assert metrics.jobs == {("general", "failed"): 1}
    finally:
        await r.close()


async def test_a_job_past_its_deadline_is_not_sent(store: MemoryJobStore, clock: FakeClock) -> None:
    gateway = Scripted()
    r = runner(store, gateway, clock)
    await store.create(make_job("job_a", now=clock() - 120, timeout=60))
    await r.start()
    try:
        job = await settle(store, "job_a", lambda j: j.finished)
        assert job.status == "failed" and job.outcome["error"]["code"] == "job_timeout"
        assert "60 s" in job.outcome["error"]["message"] and gateway.calls == 0 and job.attempts == 0
    finally:
        await r.close()


async def test_a_call_still_running_at_the_deadline_is_cancelled(store: MemoryJobStore, clock: FakeClock) -> None:
    gateway = Scripted("hang")
    r = runner(store, gateway, clock)
    await store.create(make_job("job_a", now=clock(), timeout=60))
    await r.start()
    try:
        await settle(store, "job_a", lambda j: j.status == "running" and j.attempts == 1)
        await clock.advance(59)
        assert gateway.cancelled == 0
        await clock.advance(1)
        job = await settle(store, "job_a", lambda j: j.finished)
        assert job.status == "failed" and job.outcome["error"]["code"] == "job_timeout" and gateway.cancelled == 1
    finally:
        await r.close()


async def test_shutdown_queues_running_jobs_again(store: MemoryJobStore, clock: FakeClock) -> None:
    gateway = Scripted("hang")
    r = runner(store, gateway, clock)
    await store.create(make_job("job_a", now=clock()))
    await r.start()
    await settle(store, "job_a", lambda j: j.status == "running" and j.attempts == 1)
    await idle()
    await r.close()
    job = await store.get("job_a")
    assert job is not None and job.status == "queued" and job.owner == "" and job.attempts == 1
    assert gateway.cancelled == 1
    # The next process takes it up.
    again = runner(store, gateway, clock)
    await again.start()
    try:
        assert (await settle(store, "job_a", lambda j: j.finished)).status == "succeeded"
    finally:
        await again.close()


async def test_a_lost_lease_cancels_the_work(store: MemoryJobStore, clock: FakeClock) -> None:
    gateway = Scripted("hang")
    r = runner(store, gateway, clock, lease=1.0)
    await store.create(make_job("job_a", now=clock()))
    await r.start()
    try:
        await settle(store, "job_a", lambda j: j.status == "running" and j.attempts == 1)
        await idle()
        assert gateway.calls == 1
        # Another process sees the lease as expired (its clock runs ahead) and takes the job.
        assert [j.id for j in await store.claim("other", clock() + 100, clock() + 200, 1)] == ["job_a"]
        await clock.advance(POLL_INTERVAL - 0.1)  # before the loop's next turn: nothing known yet
        assert gateway.cancelled == 0
        await clock.advance(0.2)  # the next turn: its heartbeat (due every lease / 3) is refused
        assert gateway.cancelled == 1 and r.running == 0
        job = await store.get("job_a")
        assert job is not None and job.owner == "other" and job.status == "running"
    finally:
        await r.close()


async def test_an_unexpected_error_fails_the_job_and_the_runner_goes_on(
    store: MemoryJobStore, clock: FakeClock
) -> None:
    r = runner(store, Scripted(RuntimeError("bug")), clock)
    now = clock()
    await store.create(make_job("job_a", now=now))
    await r.start()
    try:
        job = await settle(store, "job_a", lambda j: j.finished)
        assert job.status == "failed" and job.outcome["error"] == {
            "message": "Internal error in gemini-proxy.", "code": "internal_error"}
        await clock.advance(1)
        await store.create(make_job("job_b", now=now + 1))
        r.wake()
        assert (await settle(store, "job_b", lambda j: j.finished)).status == "succeeded"
    finally:
        await r.close()


async def test_concurrency_limit(store: MemoryJobStore, clock: FakeClock) -> None:
    gateway = Scripted("hang", "hang", "hang")
    r = runner(store, gateway, clock, concurrency=2)
    for i in range(3):
        await store.create(make_job(f"job_{i}", now=clock() - 1 + i * 0.001))
    await r.start()
    try:
        await settle(store, "job_1", lambda j: j.status == "running")
        await clock.advance(POLL_INTERVAL + 0.1)  # more than a poll
        assert r.running == 2 and (await store.counts())["queued"] == 1
    finally:
        await r.close()


async def test_finished_jobs_past_retention_are_purged(store: MemoryJobStore, clock: FakeClock) -> None:
    now = clock()
    for job_id, finished in (("job_old", now - 7200), ("job_new", now - 60)):
        await store.create(make_job(job_id, now=finished - 1))
        await store.cancel(job_id, finished)
    r = runner(store, Scripted(), clock, retention=3600)
    await r.start()
    try:
        await idle()
        assert await store.get("job_old") is None and await store.get("job_new") is not None
        await clock.advance(3600)  # the next purge, a minute or more later, finds the other past retention
        assert await store.get("job_new") is None
    finally:
        await r.close()


async def test_a_job_claimed_as_the_runner_stops_is_queued_again(store: MemoryJobStore, clock: FakeClock) -> None:
    gateway = Scripted()
    r = runner(store, gateway, clock)
    await store.create(make_job("job_a", now=clock()))
    (job,) = await store.claim(r.owner, clock(), clock() + 30, 1)
    r._start(job)  # the loop's last claim: its task has not begun when the shutdown cancels it
    await r.close()
    stored = await store.get("job_a")
    assert stored is not None and stored.status == "queued" and stored.owner == "" and gateway.calls == 0
    assert r.running == 0


async def test_its_own_job_found_expired_is_not_run_a_second_time(store: MemoryJobStore, clock: FakeClock) -> None:
    # The store was away longer than the lease while the job ran here: when it is back, the claim
    # hands this process its own running job. It must not start a second call for it.
    gateway = Scripted("hang", "hang")
    r = runner(store, gateway, clock, concurrency=2)
    await store.create(make_job("job_a", now=clock()))
    await r.start()
    try:
        await settle(store, "job_a", lambda j: j.status == "running")
        store._jobs["job_a"].lease_until = 0.0  # expired, as after an outage
        r.wake()
        await settle(store, "job_a", lambda j: j.lease_until > clock())  # claimed again, by us
        await idle()
        assert gateway.calls == 1 and r.running == 1
    finally:
        await r.close()


async def test_a_job_cancelled_before_its_task_began_frees_its_slot(store: MemoryJobStore, clock: FakeClock) -> None:
    r = runner(store, Scripted("hang"), clock, concurrency=1)
    job = (await store.create(make_job("job_a", now=clock())))[0]
    r._start(job)
    r.stop_local("job_a")  # before the task's first step: its coroutine never runs
    await idle()
    assert r.running == 0

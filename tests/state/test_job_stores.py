"""The JobStore contract, run against memory, SQLite and a real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gemini_proxy.state.jobs import Job, JobStore, JobStoreError, TooManyActiveJobs, open_job_store
from gemini_proxy.state.jobs_memory import MemoryJobStore
from gemini_proxy.state.jobs_redis import RedisJobStore
from gemini_proxy.state.jobs_sqlite import SqliteJobStore
from tests.servers import RedisServer

T0 = 1_780_000_000.25


def new_job(job_id: str, created: float = T0, *, agent: str = "general", **fields: object) -> Job:
    job = Job(
        id=job_id, agent=agent, model="gemini-2.5-flash", status="queued", created_at=created, updated_at=created,
        ready_at=created, spec={"task": f"task of {job_id}", "context": [], "metadata": {}, "n": 1.5},
    )
    for name, value in fields.items():
        setattr(job, name, value)
    return job


@pytest.fixture
async def jobs(store_location: tuple[str | None, str | None]) -> AsyncIterator[JobStore]:
    s = open_job_store(*store_location)
    await s.open()
    yield s
    await s.close()


async def test_create_get_and_idempotent_create(jobs: JobStore) -> None:
    job = new_job("job_a")
    stored, created = await jobs.create(job)
    assert created and stored == job
    assert await jobs.get("job_a") == job  # every field round-trips, an empty list stays a list
    assert await jobs.get("job_nope") is None
    again, created = await jobs.create(new_job("job_a", T0 + 5, agent="coder"))
    assert not created and again == job, "an existing id is kept, not overwritten"


async def test_list_newest_first_with_filters_and_counts(jobs: JobStore) -> None:
    for i in range(5):
        await jobs.create(new_job(f"job_{i}", T0 + i, agent="coder" if i % 2 else "general"))
    assert [j.id for j in await jobs.recent()] == ["job_4", "job_3", "job_2", "job_1", "job_0"]
    assert [j.id for j in await jobs.recent(limit=2)] == ["job_4", "job_3"]
    assert [j.id for j in await jobs.recent(agent="coder")] == ["job_3", "job_1"]
    await jobs.cancel("job_2", T0 + 10)
    assert [j.id for j in await jobs.recent(status="cancelled")] == ["job_2"]
    assert [j.id for j in await jobs.recent(status="queued", agent="general")] == ["job_4", "job_0"]
    assert await jobs.counts() == {"queued": 4, "running": 0, "succeeded": 0, "failed": 0, "cancelled": 1}
    with pytest.raises(ValueError):
        await jobs.recent(status="bogus")


async def test_list_only_one_clients_jobs(jobs: JobStore) -> None:
    for i in range(4):
        job = new_job(f"job_{i}", T0 + i)
        if i < 3:  # job_3 is from before clients: it is anon's
            job.spec["client"] = "alice" if i % 2 == 0 else "bob"
        await jobs.create(job)
    assert [j.id for j in await jobs.recent(client="alice")] == ["job_2", "job_0"]
    assert [j.id for j in await jobs.recent(client="bob", status="queued")] == ["job_1"]
    assert [j.id for j in await jobs.recent(client="anon")] == ["job_3"]
    assert [j.id for j in await jobs.recent(client="alice", limit=1)] == ["job_2"]
    assert await jobs.recent(client="carol") == []


def owned(job_id: str, client: str, created: float = T0) -> Job:
    job = new_job(job_id, created)
    job.spec["client"] = client
    return job


async def test_counts_of_one_client_by_status(jobs: JobStore) -> None:
    for i in range(3):
        await jobs.create(owned(f"job_a{i}", "alice", T0 + i))
    await jobs.create(owned("job_b0", "bob"))
    await jobs.create(new_job("job_old"))  # from before clients: anon's
    (claimed,) = await jobs.claim("owner-a", T0 + 10, T0 + 400, 1)
    assert claimed.id == "job_a0"
    await jobs.cancel("job_a1", T0 + 11)
    claimed.status, claimed.finished_at = "succeeded", T0 + 12
    assert await jobs.update(claimed, "owner-a")
    zero = {"queued": 0, "running": 0, "succeeded": 0, "failed": 0, "cancelled": 0}
    assert await jobs.counts("alice") == {**zero, "queued": 1, "succeeded": 1, "cancelled": 1}
    assert await jobs.counts("bob") == {**zero, "queued": 1}
    assert await jobs.counts("carol") == zero
    assert await jobs.counts() == {**zero, "queued": 3, "succeeded": 1, "cancelled": 1}
    assert await jobs.purge(T0 + 100) == 2
    assert await jobs.counts("alice") == {**zero, "queued": 1}


async def test_create_refuses_a_client_over_its_active_jobs(jobs: JobStore) -> None:
    assert (await jobs.create(owned("job_1", "alice"), max_active=2))[1]
    assert (await jobs.create(owned("job_2", "alice"), max_active=2))[1]
    with pytest.raises(TooManyActiveJobs) as refused:
        await jobs.create(owned("job_3", "alice"), max_active=2)
    assert refused.value.active == 2
    assert await jobs.get("job_3") is None, "nothing is stored for a refused job"
    again, created = await jobs.create(owned("job_1", "alice"), max_active=2)
    assert not created and again.id == "job_1", "an existing id (Idempotency-Key) is returned, not refused"
    assert (await jobs.create(owned("job_b", "bob"), max_active=2))[1], "another client is not affected"
    (running,) = await jobs.claim("owner-a", T0 + 1, T0 + 400, 1)  # a running job still counts
    with pytest.raises(TooManyActiveJobs):
        await jobs.create(owned("job_3", "alice"), max_active=2)
    running.status, running.finished_at = "failed", T0 + 2
    assert await jobs.update(running, "owner-a")  # a finished job no longer does
    assert (await jobs.create(owned("job_3", "alice"), max_active=2))[1]
    await jobs.cancel("job_2", T0 + 3)
    assert (await jobs.create(owned("job_4", "alice"), max_active=2))[1]


async def test_concurrent_creates_admit_at_most_the_limit(jobs: JobStore) -> None:
    async def attempt(i: int) -> bool:
        try:
            return (await jobs.create(owned(f"job_{i}", "alice", T0 + i), max_active=3))[1]
        except TooManyActiveJobs:
            return False

    assert sum(await asyncio.gather(*(attempt(i) for i in range(12)))) == 3


async def test_sqlite_counts_a_client_by_its_index(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.db")
    await store.open()
    try:
        from gemini_proxy.state.jobs_sqlite import CLIENT

        plan = await store._db.run(lambda conn: conn.execute(
            f"EXPLAIN QUERY PLAN SELECT COUNT(*) FROM jobs WHERE {CLIENT} = ? AND status IN ('queued', 'running')",
            ("alice",)).fetchall())  # fmt: skip
        assert "jobs_by_client" in str(plan), plan
    finally:
        await store.close()


async def test_claim_takes_ready_jobs_oldest_first_once(jobs: JobStore) -> None:
    await jobs.create(new_job("job_late", T0, ready_at=T0 + 100))  # parked until T0+100
    for i in range(3):
        await jobs.create(new_job(f"job_{i}", T0 + 1 + i))
    first = await jobs.claim("owner-a", T0 + 10, T0 + 400, 2)
    assert [j.id for j in first] == ["job_0", "job_1"]
    assert all(j.status == "running" and j.owner == "owner-a" and j.lease_until == T0 + 400 for j in first)
    assert all(j.started_at == T0 + 10 for j in first)
    second = await jobs.claim("owner-b", T0 + 11, T0 + 400, 5)
    assert [j.id for j in second] == ["job_2"], "a claimed job is never claimed again while its lease holds"
    assert await jobs.claim("owner-b", T0 + 12, T0 + 42, 5) == []
    assert [j.id for j in await jobs.claim("owner-b", T0 + 100, T0 + 130, 1)] == ["job_late"]
    assert (await jobs.counts())["running"] == 4
    # Past the leases: queued jobs come first, then those of dead owners, the oldest lease first.
    await jobs.create(new_job("job_new", T0 + 500))
    assert [j.id for j in await jobs.claim("owner-c", T0 + 500, T0 + 530, 3)] == ["job_new", "job_late", "job_0"]


async def test_concurrent_claims_never_share_a_job(jobs: JobStore) -> None:
    for i in range(20):
        await jobs.create(new_job(f"job_{i:02d}", T0 + i))
    results = await asyncio.gather(*(jobs.claim(f"owner-{n}", T0 + 50, T0 + 80, 3) for n in range(10)))
    ids = [j.id for batch in results for j in batch]
    assert sorted(ids) == [f"job_{i:02d}" for i in range(20)]


async def test_update_only_by_the_owner_of_a_running_job(jobs: JobStore) -> None:
    await jobs.create(new_job("job_a"))
    (job,) = await jobs.claim("owner-a", T0 + 1, T0 + 31, 1)
    job.lease_until, job.attempts, job.outcome = T0 + 61, 2, {"last_error": {"message": "wait", "code": "x"}}
    assert await jobs.update(job, "owner-a")
    stored = await jobs.get("job_a")
    assert stored is not None and stored.lease_until == T0 + 61 and stored.attempts == 2
    assert stored.outcome == job.outcome and stored.spec == new_job("job_a").spec
    assert not await jobs.update(job, "owner-b"), "another owner cannot write"
    job.status, job.finished_at, job.owner = "succeeded", T0 + 5, ""
    job.outcome = {"result": {"text": "done"}, "usage": {"total_tokens": 3}, "error": None}
    assert await jobs.update(job, "owner-a")
    assert not await jobs.update(job, "owner-a"), "a finished job is written once"
    stored = await jobs.get("job_a")
    assert stored is not None and stored.status == "succeeded" and stored.outcome["result"] == {"text": "done"}
    assert await jobs.claim("owner-c", T0 + 1000, T0 + 1030, 5) == []
    assert (await jobs.counts())["succeeded"] == 1


async def test_release_back_to_queue_and_park(jobs: JobStore) -> None:
    await jobs.create(new_job("job_a"))
    (job,) = await jobs.claim("owner-a", T0 + 1, T0 + 31, 1)
    job.status, job.owner, job.lease_until, job.ready_at = "queued", "", 0.0, T0 + 50
    assert await jobs.update(job, "owner-a")
    assert await jobs.claim("owner-b", T0 + 49, T0 + 79, 1) == [], "parked until ready_at"
    (again,) = await jobs.claim("owner-b", T0 + 50, T0 + 80, 1)
    assert again.owner == "owner-b" and again.started_at == T0 + 1, "started_at is the first start"


async def test_expired_lease_is_taken_over(jobs: JobStore) -> None:
    await jobs.create(new_job("job_a"))
    (job,) = await jobs.claim("dead-owner", T0 + 1, T0 + 31, 1)
    assert await jobs.claim("owner-b", T0 + 30, T0 + 60, 1) == []
    (taken,) = await jobs.claim("owner-b", T0 + 31, T0 + 61, 1)
    assert taken.owner == "owner-b"
    assert not await jobs.update(job, "dead-owner"), "the old owner lost it"


async def test_cancel(jobs: JobStore) -> None:
    await jobs.create(new_job("job_q"))
    await jobs.create(new_job("job_r", T0 + 1))
    (running,) = await jobs.claim("owner-a", T0 + 1, T0 + 31, 1)
    assert running.id == "job_q"
    cancelled, changed = await jobs.cancel("job_q", T0 + 2)
    assert changed and cancelled is not None and cancelled.status == "cancelled" and cancelled.finished_at == T0 + 2
    assert not await jobs.update(running, "owner-a"), "the runner learns of the cancel from its next update"
    again, changed = await jobs.cancel("job_q", T0 + 3)
    assert not changed and again is not None and again.finished_at == T0 + 2
    queued, changed = await jobs.cancel("job_r", T0 + 4)
    assert changed and queued is not None and queued.status == "cancelled"
    assert await jobs.claim("owner-b", T0 + 100, T0 + 130, 5) == []
    assert await jobs.cancel("job_nope", T0) == (None, False)
    assert (await jobs.counts())["cancelled"] == 2


async def test_purge_removes_only_old_finished_jobs(jobs: JobStore) -> None:
    for i in range(3):
        await jobs.create(new_job(f"job_{i}", T0 + i))
        await jobs.cancel(f"job_{i}", T0 + 10 * (i + 1))  # finished at T0+10, +20, +30
    await jobs.create(new_job("job_open", T0))
    assert await jobs.purge(T0 + 25) == 2
    assert [j.id for j in await jobs.recent()] == ["job_2", "job_open"]
    assert (await jobs.counts())["cancelled"] == 1
    assert await jobs.get("job_0") is None
    assert await jobs.purge(T0 + 25) == 0


async def test_factory_and_sqlite_persistence(tmp_path: Path, redis_server: RedisServer) -> None:
    assert type(open_job_store(None, None)) is MemoryJobStore
    assert type(open_job_store("", None)) is MemoryJobStore
    assert type(open_job_store(str(tmp_path / "x.db"), redis_server.url)) is RedisJobStore
    first = open_job_store(str(tmp_path / "x.db"), None)
    assert type(first) is SqliteJobStore
    await first.create(new_job("job_a"))
    await first.close()
    second = open_job_store(str(tmp_path / "x.db"), None)
    assert await second.get("job_a") == new_job("job_a")
    await second.close()


async def test_redis_down_is_a_job_store_error(redis_server: RedisServer) -> None:
    store = RedisJobStore(redis_server.url, timeout=0.5)
    await store.create(new_job("job_a"))
    redis_server.stop()
    with pytest.raises(JobStoreError):
        await store.get("job_a")
    with pytest.raises(JobStoreError):
        await store.claim("owner", T0, T0 + 30, 1)
    await store.close()

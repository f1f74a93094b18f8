"""Agent jobs that outlive a process: restarts on SQLite, a crashed process, replicas on Redis."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.e2e.agents_helpers import delegate, job, sim_config, sim_stats, wait_for
from tests.servers import ServerProcess, replicas_on_redis, start_proxy, until


def test_a_restart_resumes_running_and_queued_jobs(sim: ServerProcess, tmp_path: Path) -> None:
    env = {"GEMINI_PROXY_DB": str(tmp_path / "state.db"), "GEMINI_PROXY_AGENTS_CONCURRENCY": "1"}
    sim_config(sim, first_byte_delay=30)
    proxy = start_proxy(sim.url, env=env)
    try:
        running = delegate(proxy, {"agent": "general", "task": "first"}).json()
        queued = delegate(proxy, {"agent": "coder", "task": "second"}).json()
        wait_for(proxy, running["id"], statuses=("running",))
        assert job(proxy, queued["id"])["status"] == "queued"
    finally:
        proxy.stop()  # SIGTERM: the running job is cancelled and queued again
    assert until(lambda: sim_stats(sim)["by_status"].get("499") == 1, 5), "its upstream call was cancelled"
    sim_config(sim, first_byte_delay=0)
    again = start_proxy(sim.url, env=env)
    try:
        first, second = wait_for(again, running["id"]), wait_for(again, queued["id"])
        assert first["status"] == second["status"] == "succeeded"
        assert first["result"]["text"].endswith("Simulated reply to turn 1: first")
        assert second["result"]["text"].endswith("Simulated reply to turn 1: second")
        assert first["attempts"] == 2, "the same job resumed: one attempt before the restart, one after"
        assert first["created_at"] == running["created_at"]
        assert second["attempts"] == 1
        assert sim_stats(sim)["by_status"] == {"499": 1, "200": 2}
    finally:
        again.stop()


def test_a_crashed_process_loses_its_jobs_to_the_next_one_after_the_lease(sim: ServerProcess, tmp_path: Path) -> None:
    env = {"GEMINI_PROXY_DB": str(tmp_path / "state.db"), "GEMINI_PROXY_AGENTS_LEASE": "1"}
    sim_config(sim, first_byte_delay=30)
    proxy = start_proxy(sim.url, env=env)
    accepted = delegate(proxy, {"agent": "general", "task": "survive"}).json()
    wait_for(proxy, accepted["id"], statuses=("running",))
    assert proxy.process is not None
    proxy.process.kill()  # no shutdown: the job stays "running" under a dead owner's lease
    proxy.process.wait(5)
    sim_config(sim, first_byte_delay=0)
    again = start_proxy(sim.url, env=env)
    try:
        done = wait_for(again, accepted["id"], timeout=10)
        assert done["status"] == "succeeded" and done["attempts"] == 2, done
        assert done["result"]["text"].endswith("survive")
    finally:
        again.stop()


def test_replicas_on_redis_share_jobs_and_run_each_once(sim: ServerProcess, tmp_path: Path) -> None:
    with replicas_on_redis(sim.url, tmp_path) as (redis, first, second):
        sim_config(sim, first_byte_delay=0.2)
        replicas = (first, second)
        ids = [delegate(replicas[i % 2], {"agent": "general", "task": f"job {i}"}).json()["id"] for i in range(8)]
        # Delegated on one replica, visible at once on the other.
        assert job(second, ids[0])["id"] == ids[0] and job(first, ids[1])["id"] == ids[1]
        for i, job_id in enumerate(ids):
            done = wait_for(replicas[(i + 1) % 2], job_id)
            assert done["status"] == "succeeded" and done["result"]["text"].endswith(f"job {i}")
            assert done["attempts"] == 1
        assert sim_stats(sim)["total"] == 8, "each job was run by one replica only"
        for replica in replicas:
            listing = httpx.get(replica.url + "/api/agents/status?limit=100").json()
            assert sorted(j["id"] for j in listing["jobs"]) == sorted(ids)
            assert listing["counts"]["succeeded"] == 8

        # Cancelled on one replica while the other runs it: the runner stops its upstream call.
        sim_config(sim, first_byte_delay=30)
        long = delegate(first, {"agent": "general", "task": "long"}).json()
        wait_for(second, long["id"], statuses=("running",))
        assert httpx.post(f"{second.url}/api/agents/cancel/{long['id']}").json()["status"] == "cancelled"
        assert until(lambda: sim_stats(sim)["by_status"].get("499") == 1, 5), sim_stats(sim)
        assert until(lambda: all(httpx.get(r.url + "/api/agents/status").json()["running_here"] == 0 for r in replicas))
        assert job(first, long["id"])["status"] == "cancelled"

        # Redis goes away: delegating is a clear 503, the proxy's status still answers.
        redis.stop()
        down = delegate(first, {"agent": "general", "task": "x"})
        assert down.status_code == 503 and down.json()["error"]["code"] == "job_store_unavailable", down.text
        status = httpx.get(first.url + "/api/system/status")
        assert status.status_code == 200 and status.json()["agent_jobs"]["by_status"] is None
        assert until(lambda: "agent job store unreachable" in first.log(), 5)

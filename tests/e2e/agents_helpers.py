"""Helpers of the agent-delegation tests: delegate, poll a job, read the simulator's counters."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.inprocess import LocalServer
from tests.servers import ServerProcess

Server = ServerProcess | LocalServer  # a real server or one in process: both have .http

FINAL = ("succeeded", "failed", "cancelled")


def delegate(proxy: Server, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
    return proxy.http.post("/api/agents/delegate", json=body, headers=headers, timeout=30)


def job(proxy: Server, job_id: str) -> dict[str, Any]:
    response = proxy.http.get(f"/api/agents/status/{job_id}", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def wait_for(
    proxy: Server, job_id: str, statuses: tuple[str, ...] = FINAL, timeout: float = 15.0
) -> dict[str, Any]:
    """The job once its status is one of ``statuses`` (polled every 50 ms); fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        current = job(proxy, job_id)
        if current["status"] in statuses:
            return current
        assert time.monotonic() < deadline, f"job still {current['status']} after {timeout} s: {current}"
        time.sleep(0.05)


def sim_stats(sim: Server) -> dict[str, Any]:
    return sim.http.get("/_sim/stats").json()  # type: ignore[no-any-return]


def sim_config(sim: Server, **settings: object) -> None:
    sim.http.post("/_sim/config", json=settings).raise_for_status()


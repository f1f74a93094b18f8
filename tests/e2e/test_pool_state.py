"""Key state that outlives a request: restarts, workers, replicas over Redis, the keys file, admin."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx

from tests.e2e.test_pool import CHAT, by_key, chat, fail_next, key_states
from tests.inprocess import Local, LocalServer
from tests.servers import SIM_KEYS, ServerProcess, cli, replicas_on_redis, start_proxy, until


def states(proxy: ServerProcess) -> list[str]:
    return sorted(entry["state"] for entry in key_states(proxy).values())


def test_a_restart_keeps_key_state(sim: ServerProcess, tmp_path: Path) -> None:
    env = {"GEMINI_PROXY_DB": str(tmp_path / "state.db")}
    proxy = start_proxy(sim.url, env=env)
    httpx.post(sim.url + "/_sim/keys", json={"key": "sim-key-2", "state": "invalid"})
    fail_next(sim, status=429, key="sim-key-1", retry_delay="120s", count=1)
    for _ in range(4):
        assert chat(proxy).status_code == 200
    assert states(proxy) == ["active", "cooling_down", "disabled"]
    proxy.stop()
    again = start_proxy(sim.url, env=env)
    try:
        # Known at once, before any request: nothing had to be rediscovered through errors.
        assert states(again) == ["active", "cooling_down", "disabled"]
        before = by_key(sim)
        for _ in range(4):
            assert chat(again).status_code == 200
        after = by_key(sim)
        assert after["sim-key-3"] - before["sim-key-3"] == 4
    finally:
        again.stop()


def test_two_workers_share_a_cooldown(sim: ServerProcess, tmp_path: Path) -> None:
    proxy = start_proxy(sim.url, env={"GEMINI_PROXY_DB": str(tmp_path / "state.db")}, args=["--workers", "2"])
    try:
        fail_next(sim, status=429, key="sim-key-1", retry_delay="60s", count=1)
        # Fresh connections are spread over both workers by the kernel; one of them meets the 429.
        for _ in range(4):
            assert (
                httpx.post(proxy.url + "/v1/chat/completions", json=CHAT, headers={"connection": "close"}).status_code
                == 200
            )
        time.sleep(1.5)  # the workers sync through SQLite within a second (+0.5 s for a loaded CI machine)
        before = by_key(sim)["sim-key-1"]
        for _ in range(20):
            assert (
                httpx.post(proxy.url + "/v1/chat/completions", json=CHAT, headers={"connection": "close"}).status_code
                == 200
            )
        assert by_key(sim)["sim-key-1"] == before, "a worker used a key that another worker saw rate-limited"
        # Each worker process logs in JSON like a single-process proxy does.
        ready = [line for line in proxy.log().splitlines() if '"gemini-proxy ready"' in line]
        assert len(ready) == 2, proxy.log()[-2000:]
    finally:
        proxy.stop()


def test_metrics_of_workers_add_up(sim: ServerProcess) -> None:
    proxy = start_proxy(sim.url, args=["--workers", "2"])
    close = {"connection": "close"}  # fresh connections: the kernel spreads them over both workers

    def chats_counted() -> int:
        text = httpx.get(proxy.url + "/metrics", headers=close).text
        line = 'gemini_proxy_requests_total{model="gemini-2.5-flash",status="200",surface="openai"} '
        return sum(int(float(row.removeprefix(line))) for row in text.splitlines() if row.startswith(line))

    try:
        for _ in range(30):
            assert httpx.post(proxy.url + "/v1/chat/completions", json=CHAT, headers=close).status_code == 200
        time.sleep(2.0)  # each worker shares its counts every second
        # Whichever worker answers a scrape, it shows the requests of both.
        assert [chats_counted() for _ in range(20)] == [30] * 20
        status = httpx.get(proxy.url + "/api/system/status", headers=close).json()
        assert status["requests"]["successful"] >= 30
    finally:
        proxy.stop()


def test_two_replicas_share_state_through_redis(sim: ServerProcess, tmp_path: Path) -> None:
    with replicas_on_redis(sim.url, tmp_path) as (redis, first, second):
        httpx.post(sim.url + "/_sim/keys", json={"key": "sim-key-3", "state": "invalid"})
        fail_next(sim, status=429, key="sim-key-1", retry_delay="60s", count=1)
        for _ in range(4):
            assert chat(first).status_code == 200
        assert until(lambda: states(second) == ["active", "cooling_down", "disabled"], 3.0), states(second)
        before = by_key(sim)
        for _ in range(6):
            assert chat(second).status_code == 200
        after = by_key(sim)
        assert after["sim-key-2"] - before["sim-key-2"] == 6
        # Redis goes away: both replicas keep serving from their local view.
        redis.stop()
        for _ in range(3):
            assert chat(first).status_code == 200 and chat(second).status_code == 200
        # The background sync (every 0.25 s, 1 s Redis timeout) says so in the log, once, clearly.
        assert until(lambda: "degraded mode" in first.log(), 5.0), first.log()[-2000:]


def test_keys_file_is_reloaded(sim: ServerProcess, tmp_path: Path) -> None:
    keys_file = tmp_path / "gemini_tokens.txt"
    keys_file.write_text("sim-key-1\n")
    proxy = start_proxy(sim.url, keys=[], env={"GEMINI_PROXY_KEYS_FILE": str(keys_file)})
    try:
        assert httpx.get(proxy.url + "/health").json()["keys"]["configured"] == 1
        keys_file.write_text("sim-key-1\nsim-key-2 name=second\n# sim-key-3\n")
        assert until(lambda: httpx.get(proxy.url + "/health").json()["keys"]["configured"] == 2, 6.0)
        assert "second" in key_states(proxy)
        keys_file.write_text("sim-key-2 name=second\n")
        assert until(lambda: httpx.get(proxy.url + "/health").json()["keys"]["configured"] == 1, 6.0)
        for _ in range(3):
            assert chat(proxy).status_code == 200
    finally:
        proxy.stop()


def test_keys_check_command(sim: ServerProcess, tmp_path: Path) -> None:
    httpx.post(sim.url + "/_sim/keys", json={"key": "sim-key-2", "state": "invalid"})
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEMINI_PROXY_")}
    env.update(
        GEMINI_PROXY_UPSTREAM_URL=sim.url,
        GEMINI_PROXY_KEYS=",".join(SIM_KEYS),
        GEMINI_PROXY_KEYS_FILE="",
        GEMINI_PROXY_DB=str(tmp_path / "state.db"),
    )
    result = subprocess.run(cli("keys", "check"), env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    rows = result.stdout.splitlines()
    assert rows[0].split() == ["key", "status", "detail"]
    assert sorted(row.split()[1] for row in rows[1:]) == ["invalid", "valid", "valid"]
    assert all(key not in result.stdout + result.stderr for key in SIM_KEYS)
    assert httpx.get(sim.url + "/_sim/stats").json()["by_model"].get("gemini-2.5-flash", 0) == 0  # no generation
    # The verdict is kept: a proxy on the same state file starts with the key disabled.
    proxy = start_proxy(sim.url, env={"GEMINI_PROXY_DB": str(tmp_path / "state.db")})
    try:
        assert states(proxy) == ["active", "active", "disabled"]
    finally:
        proxy.stop()


def test_admin_routes(local: Local) -> None:
    sim = local.simulator()  # in process, and the proxies too
    proxy = local.proxy(sim, admin_token="admin-secret", auth_tokens="client")
    admin = {"authorization": "Bearer admin-secret"}
    assert proxy.http.get("/api/keys").status_code == 401
    assert proxy.http.get("/api/keys", headers={"authorization": "Bearer client"}).status_code == 401
    listing = proxy.http.get("/api/keys", headers=admin).json()
    ids = [entry["key"] for entry in listing["keys"]]
    assert len(ids) == 3 and listing["counts"]["configured"] == 3
    disabled = proxy.http.post(f"/api/keys/{ids[0]}/disable", json={"reason": "maintenance"}, headers=admin)
    assert disabled.status_code == 200
    assert key_states_admin(proxy, admin)[ids[0]]["state"] == "disabled"
    # A reason is bounded: it is kept in the key's state, written on every flush, shown by the dashboard.
    for reason in ("x" * 501, "x" * 100_000, "   ", 7):
        refused = proxy.http.post(f"/api/keys/{ids[1]}/disable", json={"reason": reason}, headers=admin)
        assert refused.status_code == 400 and refused.json()["error"]["message"].startswith("'reason'"), reason
    assert key_states_admin(proxy, admin)[ids[1]]["state"] == "active"
    at_limit = proxy.http.post(f"/api/keys/{ids[1]}/disable", json={"reason": "y" * 500}, headers=admin)
    assert at_limit.status_code == 200
    assert proxy.http.post(f"/api/keys/{ids[1]}/enable", headers=admin).status_code == 200
    assert proxy.http.post(f"/api/keys/{ids[0]}/enable", headers=admin).status_code == 200
    assert key_states_admin(proxy, admin)[ids[0]]["state"] == "active"
    assert proxy.http.post("/api/keys/nope/enable", headers=admin).status_code == 404
    sim.http.post("/_sim/keys", json={"key": "sim-key-1", "state": "invalid"})
    results = proxy.http.post("/api/keys/check", headers=admin).json()["results"]
    assert sorted(r["status"] for r in results) == ["invalid", "valid", "valid"]
    assert sorted(entry["state"] for entry in key_states_admin(proxy, admin).values()) == [
        "active",
        "active",
        "disabled",
    ]
    off = local.proxy(sim)
    assert off.http.get("/api/keys", headers=admin).status_code == 404


def key_states_admin(proxy: LocalServer, headers: dict[str, str]) -> dict[str, dict]:
    return {e["key"]: e for e in proxy.http.get("/api/keys", headers=headers).json()["keys"]}

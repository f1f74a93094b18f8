"""Outbound proxies, end to end: ``gemini-proxy serve`` reaching the simulator through a real
forward proxy (tinyproxy), chosen by HTTPS_PROXY / HTTP_PROXY / NO_PROXY, by
GEMINI_PROXY_UPSTREAM_PROXY, or per key by ``proxy=`` in the keys file; the proxy's credentials
appear in no log, answer or status."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.agents_helpers import sim_stats
from tests.servers import (
    PROXY_PASSWORD as PASSWORD,
)
from tests.servers import (
    SIM_KEYS,
    ForwardProxy,
    ServerProcess,
    _base_env,
    cli,
    start_proxy,
    start_simulator,
)

CHAT = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def sim() -> Iterator[ServerProcess]:
    server = start_simulator()
    yield server
    server.stop()


def _chat(proxy: ServerProcess, n: int = 1) -> None:
    for _ in range(n):
        answer = httpx.post(proxy.url + "/v1/chat/completions", json=CHAT, timeout=30)
        assert answer.status_code == 200, answer.text


def _sim_address(sim: ServerProcess) -> str:
    return f"127.0.0.1:{sim.port}"


def test_the_environment_s_proxy_carries_every_request(sim: ServerProcess, guarded: ForwardProxy) -> None:
    proxy = start_proxy(sim.url, env={"HTTP_PROXY": guarded.url})
    try:
        _chat(proxy, 3)
        status = httpx.get(proxy.url + "/api/system/status").text
    finally:
        proxy.stop()
    tunnels = guarded.tunnels()
    assert tunnels and set(tunnels) == {_sim_address(sim)}, tunnels
    assert len(tunnels) <= 3, "tunnels are kept alive and reused"
    for text in (proxy.log(), status, guarded.log()):
        assert PASSWORD not in text


def test_no_proxy_names_the_hosts_reached_directly(sim: ServerProcess, forward: ForwardProxy) -> None:
    proxy = start_proxy(sim.url, env={"http_proxy": forward.url, "NO_PROXY": "localhost,127.0.0.0/8"})
    try:
        _chat(proxy)
    finally:
        proxy.stop()
    assert forward.tunnels() == []
    overridden = start_proxy(
        sim.url, env={"HTTP_PROXY": forward.url, "NO_PROXY": "*", "GEMINI_PROXY_UPSTREAM_PROXY": forward.url}
    )
    try:
        _chat(overridden)
    finally:
        overridden.stop()
    assert forward.tunnels() == [_sim_address(sim)], "GEMINI_PROXY_UPSTREAM_PROXY wins over the environment"


def test_each_key_can_go_out_its_own_way(
    sim: ServerProcess, forward: ForwardProxy, guarded: ForwardProxy, tmp_path: Path
) -> None:
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text(
        f"{SIM_KEYS[0]} name=via-guarded proxy={guarded.url}\n"
        f"{SIM_KEYS[1]} name=direct-one proxy=direct\n"
        f"{SIM_KEYS[2]} name=default-one\n"
    )
    before = sim_stats(sim)["by_key"]
    proxy = start_proxy(
        sim.url,
        keys=(),
        env={"GEMINI_PROXY_KEYS": "", "GEMINI_PROXY_KEYS_FILE": str(keys_file), "HTTP_PROXY": forward.url},
    )
    try:
        _chat(proxy, 6)
        status = httpx.get(proxy.url + "/api/system/status")
        keys = {key["key"]: key for key in status.json()["keys"]}
    finally:
        proxy.stop()
    served = {k: v - before.get(k, 0) for k, v in sim_stats(sim)["by_key"].items()}
    assert all(served.get(key, 0) == 2 for key in SIM_KEYS), served  # round robin over the three
    assert guarded.tunnels() == [_sim_address(sim)]  # via-guarded's two requests, one kept-alive tunnel
    assert forward.tunnels() == [_sim_address(sim)]  # default-one's, through the environment's proxy
    assert keys["via-guarded"]["proxy"] == f"http://127.0.0.1:{guarded.port}"
    assert keys["direct-one"]["proxy"] == "direct"
    assert keys["default-one"]["proxy"] is None
    for text in (proxy.log(), status.text, guarded.log(), forward.log()):
        assert PASSWORD not in text


def test_a_malformed_proxy_stops_start_up_with_one_line(tmp_path: Path) -> None:
    env = {
        **_base_env(),
        "GEMINI_PROXY_KEYS": "k1",
        "GEMINI_PROXY_KEYS_FILE": "",
        "HTTPS_PROXY": f"socks5://egress:{PASSWORD}@proxy.corp:1080",
    }
    result = subprocess.run(cli("serve"), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "gemini-proxy: error: HTTPS_PROXY: an outbound proxy must be an http:// URL, not socks5://"
    ]
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text(f"k1 proxy=http://egress:{PASSWORD}@proxy.corp:port\n")
    env = {**_base_env(), "GEMINI_PROXY_KEYS_FILE": str(keys_file)}
    result = subprocess.run(cli("serve"), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert PASSWORD not in result.stderr
    assert "line 1: proxy=:" in result.stderr and "the port is not a number" in result.stderr

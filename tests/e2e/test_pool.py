"""The key pool seen from outside: spread, cooldowns, disabled keys, retries, all-spent 429s.

Each test gets its own proxy (key state is per proxy) in front of a simulator whose counters
tell which key served which request: both in process (``local_sim``, ``local_proxy``) unless the
test is about sockets or logs (``sim``, the shared simulator, and ``fresh``, a proxy process).
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import openai
import pytest

from tests.inprocess import Local, LocalServer, LocalSimulator
from tests.servers import SIM_KEYS, ServerProcess, start_proxy

CHAT = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def fresh(sim: ServerProcess) -> Iterator[ServerProcess]:
    proxy = start_proxy(sim.url, env={"GEMINI_PROXY_MAX_WAIT": "0"})
    yield proxy
    proxy.stop()


@pytest.fixture
def local_sim(local: Local) -> LocalSimulator:
    return local.simulator()


@pytest.fixture
def local_proxy(local: Local, local_sim: LocalSimulator) -> LocalServer:
    return local.proxy(local_sim, max_wait=0)


Server = ServerProcess | LocalServer


def by_key(sim: Server) -> dict[str, int]:
    stats = sim.http.get("/_sim/stats").json()["by_key"]
    return {key: stats.get(key, 0) for key in SIM_KEYS}


def chat(proxy: Server, body: dict | None = None) -> httpx.Response:
    return proxy.http.post("/v1/chat/completions", json=body or CHAT, timeout=30)


def key_states(proxy: Server) -> dict[str, dict]:
    answer = proxy.http.get("/api/system/status")
    assert answer.status_code == 200 and "keys" in answer.json(), answer.text
    return {entry["key"]: entry for entry in answer.json()["keys"]}


def fail_next(sim: Server, **spec: object) -> None:
    sim.http.post("/_sim/fail-next", json=spec).raise_for_status()


def test_load_is_spread_over_the_keys(local_sim: LocalSimulator, local_proxy: LocalServer) -> None:
    for _ in range(30):
        assert chat(local_proxy).status_code == 200
    assert by_key(local_sim) == {key: 10 for key in SIM_KEYS}


def test_retry_delay_is_honoured(local_sim: LocalSimulator, local_proxy: LocalServer) -> None:
    fail_next(local_sim, status=429, key="sim-key-1", retry_delay="4s", count=1)
    start = time.monotonic()
    assert chat(local_proxy).status_code == 200  # the 429 was retried on another key
    sent = 1
    while time.monotonic() - start < 3.0 or sent < 4:  # well inside the 4 s cooldown, however slow the machine
        assert chat(local_proxy).status_code == 200
        sent += 1
    assert time.monotonic() - start < 4.0, "the machine was too slow to observe the cooldown"
    assert by_key(local_sim)["sim-key-1"] == 1, "a cooling key must not be used before its delay ends"
    cooling = [entry for entry in key_states(local_proxy).values() if entry["state"] == "cooling_down"]
    assert len(cooling) == 1
    time.sleep(max(0.0, 4.2 - (time.monotonic() - start)))
    for _ in range(6):
        assert chat(local_proxy).status_code == 200
    assert by_key(local_sim)["sim-key-1"] >= 2, "the key is used again after its delay"


def test_daily_quota_lasts_until_pacific_midnight(local_sim: LocalSimulator, local_proxy: LocalServer) -> None:
    fail_next(local_sim, status=429, key="sim-key-1", per_day=True, retry_delay="23s", count=1)
    for _ in range(6):
        assert chat(local_proxy).status_code == 200
    assert by_key(local_sim)["sim-key-1"] == 1
    (out,) = [entry for entry in key_states(local_proxy).values() if entry["state"] == "out_of_daily_quota"]
    pacific = ZoneInfo("America/Los_Angeles")
    now = datetime.now(pacific)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), pacific).timestamp()
    assert abs(float(out["until"]) - midnight) < 5, out


def test_invalid_key_is_disabled_and_never_tried_again(local_sim: LocalSimulator, local_proxy: LocalServer) -> None:
    local_sim.http.post("/_sim/keys", json={"key": "sim-key-2", "state": "invalid"}).raise_for_status()
    for _ in range(12):
        assert chat(local_proxy).status_code == 200
    assert by_key(local_sim)["sim-key-2"] == 1
    disabled = [entry for entry in key_states(local_proxy).values() if entry["state"] == "disabled"]
    assert len(disabled) == 1 and "API_KEY_INVALID" in str(disabled[0])
    assert 'gemini_proxy_upstream_attempts_total{outcome="invalid_key"} 1.0' in local_proxy.http.get("/metrics").text


def test_server_errors_are_retried_on_another_key(local_sim: LocalSimulator, local_proxy: LocalServer) -> None:
    fail_next(local_sim, status=503, count=1)
    assert chat(local_proxy).status_code == 200
    assert sum(by_key(local_sim).values()) == 2
    assert local_proxy.http.get("/api/system/status").json()["requests"]["retried"] == 1
    assert 'gemini_proxy_upstream_attempts_total{outcome="transient"} 1.0' in local_proxy.http.get("/metrics").text


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1beta/models/gemini-2.5-flash:generateContent"])
def test_an_answer_cut_short_is_retried_on_another_key(
    local_sim: LocalSimulator, local_proxy: LocalServer, path: str
) -> None:
    # Gemini's connection breaks halfway through a (non-streamed) answer: the client has seen
    # nothing yet, so the proxy asks another key instead of answering 502.
    fail_next(local_sim, status=200, after_chunks=1, count=1)
    body = CHAT if path.startswith("/v1/chat") else {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    response = local_proxy.http.post(path, json=body, timeout=10)
    assert response.status_code == 200, response.text
    assert sorted(by_key(local_sim).values()) == [0, 1, 1]  # two keys asked, one answer
    assert 'gemini_proxy_upstream_attempts_total{outcome="transient"} 1.0' in local_proxy.http.get("/metrics").text


def test_a_403_without_a_key_reason_disables_no_key(local_sim: LocalSimulator, local_proxy: LocalServer) -> None:
    # Google's bare 403 (a project that lost access to one model, say) would reach every key;
    # it goes back to the client, and every key stays in the pool for every other request.
    fail_next(local_sim, status=403, message="The caller does not have permission", count=3)
    response = chat(local_proxy)
    assert response.status_code == 403, response.text
    assert response.json()["error"]["type"] == "permission_error"
    assert sum(by_key(local_sim).values()) == 1
    assert all(entry["state"] == "active" for entry in key_states(local_proxy).values())
    assert chat(local_proxy).status_code == 403 and chat(local_proxy).status_code == 403  # the rest of the 3
    assert chat(local_proxy).status_code == 200


def test_a_403_about_the_key_disables_it(local_sim: LocalSimulator, local_proxy: LocalServer) -> None:
    fail_next(local_sim, status=403, key="sim-key-1", message="Your API key was reported as leaked.", count=1)
    for _ in range(6):
        assert chat(local_proxy).status_code == 200
    assert [entry["state"] for entry in key_states(local_proxy).values()].count("disabled") == 1


def test_a_bad_request_is_not_retried(local_sim: LocalSimulator, local_proxy: LocalServer) -> None:
    response = local_proxy.http.post(
        "/v1beta/models/gemini-2.5-flash:generateContent",
        json={"contents": [{"parts": [{"text": "x"}]}], "bogusField": 1},
    )
    assert response.status_code == 400
    assert sum(by_key(local_sim).values()) == 1
    assert all(entry["state"] == "active" for entry in key_states(local_proxy).values())


def test_all_keys_spent_gives_429_with_retry_after(sim: ServerProcess, fresh: ServerProcess) -> None:
    for key in SIM_KEYS:
        httpx.post(sim.url + "/_sim/keys", json={"key": key, "state": "exhausted_minute", "retry_delay": "30s"})
    client = openai.OpenAI(base_url=fresh.url + "/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(**CHAT)
    retry_after = int(info.value.response.headers["retry-after"])
    assert 25 <= retry_after <= 31
    assert "cooling down" in info.value.message
    # The same through curl, and on the native surface in Google's shape.
    result = subprocess.run(
        [
            "curl",
            "-s",
            "-i",
            fresh.url + "/v1/chat/completions",
            "-H",
            "content-type: application/json",
            "-d",
            '{"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}',
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.stdout.startswith("HTTP/1.1 429") and "retry-after:" in result.stdout.lower()
    native = httpx.post(
        fresh.url + "/v1beta/models/gemini-2.5-flash:generateContent", json={"contents": [{"parts": [{"text": "x"}]}]}
    )
    assert native.status_code == 429 and native.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert 25 <= int(native.headers["retry-after"]) <= 31
    # Each key was tried once; the pool did not hammer them.
    assert by_key(sim) == {key: 1 for key in SIM_KEYS}


def test_a_short_cooldown_is_waited_for(local: Local, local_sim: LocalSimulator) -> None:
    proxy = local.proxy(local_sim, keys=["sim-key-1"], max_wait=3)
    fail_next(local_sim, status=429, key="sim-key-1", retry_delay="1s", count=1)
    start = time.monotonic()
    assert chat(proxy).status_code == 200
    assert 0.9 <= time.monotonic() - start < 3


def test_stream_is_retried_before_its_first_byte(local_sim: LocalSimulator, local_proxy: LocalServer) -> None:
    fail_next(local_sim, status=503, count=1)
    client = openai.OpenAI(base_url=local_proxy.url + "/v1", http_client=local_proxy.http, api_key="x", max_retries=0)
    text = "".join(
        c.choices[0].delta.content or "" for c in client.chat.completions.create(**CHAT, stream=True) if c.choices
    )
    assert text == "Simulated reply to turn 1: hi"
    assert sum(by_key(local_sim).values()) == 2


def test_no_key_in_logs_status_or_metrics(sim: ServerProcess) -> None:
    proxy = start_proxy(sim.url, env={"GEMINI_PROXY_LOG_LEVEL": "debug", "GEMINI_PROXY_ADMIN_TOKEN": "admin-tok"})
    try:
        httpx.post(sim.url + "/_sim/keys", json={"key": "sim-key-3", "state": "invalid"})
        fail_next(sim, status=429, key="sim-key-1", retry_delay="5s", count=1)
        fail_next(sim, status=500, count=1)
        for _ in range(6):
            chat(proxy)
        list(openai.OpenAI(base_url=proxy.url + "/v1", api_key="x").chat.completions.create(**CHAT, stream=True))
        outputs = [
            httpx.get(proxy.url + "/api/system/status").text,
            httpx.get(proxy.url + "/metrics").text,
            httpx.get(proxy.url + "/health").text,
            httpx.get(proxy.url + "/api/keys", headers={"authorization": "Bearer admin-tok"}).text,
        ]
    finally:
        proxy.stop()
    outputs.append(proxy.log())
    assert "disabled" in outputs[0]
    for key in SIM_KEYS:
        for output in outputs:
            assert key not in output


@pytest.mark.parametrize("surface", ["openai", "native"])
def test_a_client_that_disconnects_cancels_the_upstream_stream(
    sim: ServerProcess, fresh: ServerProcess, surface: str
) -> None:
    httpx.post(sim.url + "/_sim/config", json={"chunk_delay": 0.5, "stream_chunks": 20}).raise_for_status()
    words = " ".join(f"word{i}" for i in range(40))  # enough words for 20 chunks: a 10 s stream
    if surface == "openai":
        url = fresh.url + "/v1/chat/completions"
        body = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": words}], "stream": True}
    else:
        url = fresh.url + "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        body = {"contents": [{"parts": [{"text": words}]}]}
    with httpx.stream("POST", url, json=body, timeout=30) as response:
        assert response.status_code == 200
        chunks = response.iter_bytes()  # held: a dropped iterator would close the connection at once
        next(chunks)  # the stream has started
        assert sum(entry["in_flight"] for entry in key_states(fresh).values()) == 1
    # The client is gone: the proxy stops reading from Google at once and frees the key.
    assert_soon = time.monotonic() + 2
    while sum(entry["in_flight"] for entry in key_states(fresh).values()) and time.monotonic() < assert_soon:
        time.sleep(0.05)
    assert sum(entry["in_flight"] for entry in key_states(fresh).values()) == 0
    # A client's departure says nothing about the key.
    assert all(entry["state"] == "active" for entry in key_states(fresh).values())


def test_streams_reuse_upstream_connections(sim: ServerProcess, fresh: ServerProcess) -> None:
    client = openai.OpenAI(base_url=fresh.url + "/v1", api_key="x", max_retries=0)
    for _ in range(5):
        list(client.chat.completions.create(**CHAT, stream=True))
    stats = httpx.get(sim.url + "/_sim/stats").json()
    assert stats["total"] == 5
    assert stats["connections"] == 1, "each stream opened a new connection to Google"


@pytest.mark.parametrize("stream", [True, False])
def test_a_client_that_leaves_before_the_answer_cancels_too(
    sim: ServerProcess, fresh: ServerProcess, stream: bool
) -> None:
    # Google may think for a long time before its first byte; a client may give up meanwhile.
    httpx.post(sim.url + "/_sim/config", json={"first_byte_delay": 10}).raise_for_status()
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(fresh.url + "/v1/chat/completions", json={**CHAT, "stream": stream}, timeout=1.0)
    deadline = time.monotonic() + 2
    while sum(entry["in_flight"] for entry in key_states(fresh).values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sum(entry["in_flight"] for entry in key_states(fresh).values()) == 0


def test_a_client_that_leaves_while_sending_its_body_is_not_a_server_error(fresh: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", fresh.port)) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: proxy\r\ncontent-type: application/json\r\n"
            b'content-length: 100\r\n\r\n{"model"'
        )
        time.sleep(0.2)  # the proxy waits for the rest of the body
    deadline = time.monotonic() + 5
    while "disconnected" not in fresh.log() and "unhandled error" not in fresh.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "unhandled error" not in fresh.log()
    assert httpx.get(fresh.url + "/api/system/status").json()["requests"]["failed"] == 0
    assert 'status="500"' not in httpx.get(fresh.url + "/metrics").text


def test_metrics_by_surface_model_and_status(local_sim: LocalSimulator, local_proxy: LocalServer) -> None:
    for _ in range(2):
        assert chat(local_proxy).status_code == 200
    assert chat(local_proxy, {"model": "gemini-2.5-flash", "messages": []}).status_code == 400
    text = local_proxy.http.get("/metrics").text
    labels = 'model="gemini-2.5-flash",status="200",surface="openai"'
    assert f"gemini_proxy_requests_total{{{labels}}} 2.0" in text
    assert f"gemini_proxy_request_duration_seconds_count{{{labels}}} 2.0" in text
    assert 'status="400",surface="openai"} 1.0' in text
    assert 'gemini_proxy_tokens_total{direction="in",model="gemini-2.5-flash"}' in text
    assert 'gemini_proxy_key_state{key="' in text

"""Each client's usage and token limits (issue 15): usage by client and model that matches what
Gemini (the simulator) counted, in the status API and /metrics; tokens per minute and per day
reached by one client while another is served; limits shared by two workers and by two replicas."""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx
import openai

from tests.inprocess import Local
from tests.servers import ServerProcess, replicas_on_redis, start_proxy, until

ALICE, BOB, ADMIN = "tok-alice-0001", "tok-bob-00002", "tok-admin-0003"
CHAT = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hello there"}]}


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def write_clients(directory: Path, *entries: dict[str, Any]) -> Path:
    path = directory / "clients.json"
    path.write_text(json.dumps({"clients": list(entries)}), encoding="utf-8")
    return path


def clients_of(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in status["clients"]}


def test_usage_per_client_and_model_is_gemini_s_count(portal: anyio.from_thread.BlockingPortal, tmp_path: Path) -> None:
    path = write_clients(tmp_path, {"name": "alice", "token": ALICE}, {"name": "bob", "token": BOB})
    local = Local(portal)
    try:
        proxy = local.proxy(local.simulator(), clients_file=path, admin_token=ADMIN)
        sdk = openai.OpenAI(base_url=proxy.url + "/v1", api_key=ALICE, http_client=proxy.http)
        expected = {"input_tokens": 0, "output_tokens": 0, "thinking_tokens": 0}
        for prompt in ("one", "two words", "and three words here"):
            usage = sdk.chat.completions.create(
                model="gemini-2.5-flash", messages=[{"role": "user", "content": prompt}]
            ).usage
            assert usage is not None
            reasoning = usage.completion_tokens_details.reasoning_tokens if usage.completion_tokens_details else 0
            expected["input_tokens"] += usage.prompt_tokens
            expected["output_tokens"] += usage.completion_tokens - (reasoning or 0)
            expected["thinking_tokens"] += reasoning or 0
        streamed = sdk.chat.completions.create(
            model="gemini-2.5-flash",
            messages=[{"role": "user", "content": "a stream"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        last = [chunk for chunk in streamed][-1].usage
        assert last is not None
        stream_reasoning = last.completion_tokens_details.reasoning_tokens if last.completion_tokens_details else 0
        expected["input_tokens"] += last.prompt_tokens
        expected["output_tokens"] += last.completion_tokens - (stream_reasoning or 0)
        expected["thinking_tokens"] += stream_reasoning or 0
        native = proxy.http.post(
            "/v1beta/models/gemini-2.5-flash-lite:generateContent",
            json={"contents": [{"role": "user", "parts": [{"text": "native"}]}]},
            headers={"x-goog-api-key": ALICE},
        ).json()["usageMetadata"]
        assert proxy.http.post("/v1/chat/completions", json=CHAT, headers=auth(BOB)).status_code == 200
        refused = proxy.http.post("/v1/chat/completions", json={"model": "gemini-2.5-flash"}, headers=auth(ALICE))
        assert refused.status_code == 400

        status = proxy.http.get("/api/system/status", headers=auth(ADMIN)).json()
        alice = clients_of(status)["alice"]
        flash = alice["usage_by_model"]["gemini-2.5-flash"]
        assert {k: flash[k] for k in expected} == expected
        assert flash["requests"] == 4
        lite = alice["usage_by_model"]["gemini-2.5-flash-lite"]
        assert lite["input_tokens"] == native["promptTokenCount"]
        assert lite["output_tokens"] + lite["thinking_tokens"] == native["candidatesTokenCount"] + native.get(
            "thoughtsTokenCount", 0
        )
        assert alice["usage"]["requests"] == 5 and alice["usage"]["errors"] == 1
        assert clients_of(status)["bob"]["usage"]["requests"] == 1
        # a client sees itself only
        own = proxy.http.get("/api/system/status", headers=auth(BOB)).json()
        assert [entry["name"] for entry in own["clients"]] == ["bob"]
        metrics = proxy.http.get("/metrics", headers=auth(ADMIN)).text
        line = 'gemini_proxy_client_tokens_total{client="alice",kind="input",model="gemini-2.5-flash"} '
        assert f"{line}{float(expected['input_tokens'])}" in metrics
        assert 'gemini_proxy_client_requests_total{client="bob",model="gemini-2.5-flash",outcome="ok"} 1.0' in metrics
        for token in (ALICE, BOB, ADMIN):
            assert token not in metrics and token not in json.dumps(status)
    finally:
        local.close()


def test_a_client_over_its_tokens_per_minute_waits_while_another_is_served(
    portal: anyio.from_thread.BlockingPortal, tmp_path: Path
) -> None:
    path = write_clients(tmp_path, {"name": "alice", "token": ALICE, "tpm": 10}, {"name": "bob", "token": BOB})
    local = Local(portal)
    try:
        proxy = local.proxy(local.simulator(), clients_file=path)
        first = proxy.http.post("/v1/chat/completions", json=CHAT, headers=auth(ALICE))
        assert first.status_code == 200 and first.json()["usage"]["total_tokens"] >= 10  # crosses it: answered
        over = proxy.http.post("/v1/chat/completions", json=CHAT, headers=auth(ALICE))
        assert over.status_code == 429 and "10 tokens per minute" in over.json()["error"]["message"]
        assert 1 <= int(over.headers["retry-after"]) <= 70
        anthropic = proxy.http.post(
            "/v1/messages",
            json={"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]},
            headers={"x-api-key": ALICE, "anthropic-version": "2023-06-01"},
        )
        assert anthropic.status_code == 429 and anthropic.json()["error"]["type"] == "rate_limit_error"
        for _ in range(3):
            assert proxy.http.post("/v1/chat/completions", json=CHAT, headers=auth(BOB)).status_code == 200
    finally:
        local.close()


def test_tokens_per_day_and_an_agent_job_count_for_its_client(
    portal: anyio.from_thread.BlockingPortal, tmp_path: Path
) -> None:
    path = write_clients(
        tmp_path, {"name": "alice", "token": ALICE, "tokens_per_day": 30}, {"name": "bob", "token": BOB}
    )
    local = Local(portal)
    try:
        proxy = local.proxy(local.simulator(), clients_file=path, admin_token=ADMIN)
        job = proxy.http.post(
            "/api/agents/delegate", json={"agent": "general", "task": "say something", "wait": 10}, headers=auth(ALICE)
        )
        assert job.status_code == 200 and job.json()["status"] == "succeeded", job.text
        spent = job.json()["usage"]
        status = proxy.http.get("/api/system/status", headers=auth(ADMIN)).json()
        alice = clients_of(status)["alice"]
        assert alice["usage"]["input_tokens"] == spent["prompt_tokens"]
        assert alice["now"]["tokens_today"] == spent["prompt_tokens"] + spent["completion_tokens"]
        while proxy.http.post("/v1/chat/completions", json=CHAT, headers=auth(ALICE)).status_code == 200:
            pass  # until the day's 30 are spent
        over = proxy.http.post("/v1/chat/completions", json=CHAT, headers=auth(ALICE))
        assert over.status_code == 429 and "30 tokens per day" in over.json()["error"]["message"]
        assert int(over.headers["retry-after"]) <= 86400 - int(time.time()) % 86400 + 1
        assert proxy.http.post("/v1/chat/completions", json=CHAT, headers=auth(BOB)).status_code == 200
    finally:
        local.close()


def seen(url: str, count: int) -> bool:
    """Whether alice's last minute shows ``count`` requests at ``url``, on a dozen fresh
    connections in a row (so that, behind one port, every worker has surely synced them)."""
    for _ in range(12):
        status = httpx.get(url + "/api/system/status", headers={**auth(ADMIN), "connection": "close"})
        alice = clients_of(status.json()).get("alice", {})
        if alice.get("now", {}).get("requests_last_minute") != count:
            return False
    return True


def everywhere(urls: list[str], count: int) -> bool:
    return all(seen(url, count) for url in urls)


def admitted(urls: list[str], count: int) -> int:
    """How many of ``count`` chats alice gets, each on a fresh connection (so the kernel spreads
    them over a proxy's workers) and sent to ``urls`` in turn, each once every process has synced
    the ones before (the limits are shared every 0.25 s: that is the documented slack)."""
    ok = 0
    for i in range(count):
        answer = httpx.post(
            urls[i % len(urls)] + "/v1/chat/completions", json=CHAT, headers={**auth(ALICE), "connection": "close"}
        )
        assert answer.status_code in (200, 429), answer.text
        ok += answer.status_code == 200
        synced = functools.partial(everywhere, urls, min(ok, 4))
        assert until(synced), f"{min(ok, 4)} requests not synced everywhere"
    return ok


def test_two_workers_share_a_clients_rpm(sim: ServerProcess, tmp_path: Path) -> None:
    path = write_clients(tmp_path, {"name": "alice", "token": ALICE, "rpm": 4})
    env = {
        "GEMINI_PROXY_DB": str(tmp_path / "state.db"),
        "GEMINI_PROXY_CLIENTS_FILE": str(path),
        "GEMINI_PROXY_ADMIN_TOKEN": ADMIN,
    }
    proxy = start_proxy(sim.url, env=env, args=["--workers", "2"])
    try:
        assert admitted([proxy.url], 10) == 4  # not 4 per worker
    finally:
        proxy.stop()


def test_two_replicas_share_a_clients_rpm_through_redis(sim: ServerProcess, tmp_path: Path) -> None:
    path = write_clients(tmp_path, {"name": "alice", "token": ALICE, "rpm": 4})
    env = {"GEMINI_PROXY_CLIENTS_FILE": str(path), "GEMINI_PROXY_ADMIN_TOKEN": ADMIN}
    with replicas_on_redis(sim.url, tmp_path, env=env) as (_, first, second):
        assert admitted([first.url, second.url], 8) == 4


def sse_data(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]


def test_tokens_by_model_count_every_surface_and_stream(local: Local) -> None:
    """``gemini_proxy_tokens_total`` is what Gemini counted for every answer the proxy served: the
    four generating surfaces, unary and streamed, by the model's own name (it once missed streams
    and native calls)."""
    proxy = local.proxy(local.simulator())
    model = "gemini-2.5-flash"
    said = {"in": 0, "out": 0}

    def add(prompt: int, out: int) -> None:
        said["in"] += prompt
        said["out"] += out

    for stream in (False, True):
        chat = {**CHAT, "stream": stream, "stream_options": {"include_usage": True}} if stream else CHAT
        answer = proxy.http.post("/v1/chat/completions", json=chat)
        usage = sse_data(answer.text)[-1]["usage"] if stream else answer.json()["usage"]
        add(usage["prompt_tokens"], usage["completion_tokens"])
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        native = proxy.http.post(
            f"/v1beta/models/{model}:{method}", json={"contents": [{"role": "user", "parts": [{"text": "native"}]}]}
        )
        meta = sse_data(native.text)[-1]["usageMetadata"] if stream else native.json()["usageMetadata"]
        add(meta["promptTokenCount"], meta["candidatesTokenCount"] + meta.get("thoughtsTokenCount", 0))
        message = {"model": model, "max_tokens": 256, "messages": [{"role": "user", "content": "hi"}], "stream": stream}
        claude = proxy.http.post("/v1/messages", json=message, headers={"anthropic-version": "2023-06-01"})
        if stream:
            events = sse_data(claude.text)
            start = next(e for e in events if e["type"] == "message_start")["message"]["usage"]
            usage = {**start, **next(e for e in events if e["type"] == "message_delta")["usage"]}
        else:
            usage = claude.json()["usage"]
        add(usage["input_tokens"] + (usage.get("cache_read_input_tokens") or 0), usage["output_tokens"])
        responses = proxy.http.post("/v1/responses", json={"model": model, "input": "hi", "stream": stream})
        if stream:
            usage = next(e for e in sse_data(responses.text) if e["type"] == "response.completed")["response"]["usage"]
        else:
            usage = responses.json()["usage"]
        add(usage["input_tokens"], usage["output_tokens"])

    metrics = proxy.http.get("/metrics").text
    for direction in ("in", "out"):
        line = f'gemini_proxy_tokens_total{{direction="{direction}",model="{model}"}} {float(said[direction])}'
        assert line in metrics, (line, [m for m in metrics.splitlines() if m.startswith("gemini_proxy_tokens_total")])

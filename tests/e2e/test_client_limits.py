"""A client's job and model limits (issue 15), end to end through the proxy on the simulator with
two clients: alice has ``max_queued_jobs``, ``max_job_context_bytes`` and a ``models`` allow-list,
bob has none. Each limit is reached by alice while bob is served, on every surface, with the
surfaces' own SDKs where they have one."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.e2e.agents_helpers import sim_config
from tests.servers import ServerProcess, replicas_on_redis, start_proxy

ALICE, BOB = "tok-alice-0001", "tok-bob-00002"
ALLOWED, OTHER = "gemini-2.5-flash", "gemini-2.5-pro"
CONTEXT_LIMIT, DEFAULT_CONTEXT_LIMIT = 2048, 100_000
CLIENTS = {"clients": [
    {"name": "alice", "token": ALICE, "max_queued_jobs": 2, "max_job_context_bytes": CONTEXT_LIMIT,
     "models": [ALLOWED]},
    {"name": "bob", "token": BOB},
]}  # fmt: skip


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def clients_file(directory: Path, clients: dict[str, Any] = CLIENTS) -> Path:
    path = directory / "clients.json"
    path.write_text(json.dumps(clients), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def proxy(simulator: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    path = clients_file(tmp_path_factory.mktemp("clients"))
    server = start_proxy(simulator.url, env={
        "GEMINI_PROXY_CLIENTS_FILE": str(path), "GEMINI_PROXY_MAX_JOB_CONTEXT_BYTES": str(DEFAULT_CONTEXT_LIMIT),
        "GEMINI_PROXY_DB": str(tmp_path_factory.mktemp("db") / "state.db")})  # fmt: skip
    yield server
    server.stop()


def post(proxy: ServerProcess, path: str, token: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return proxy.http.post(path, json=body, headers={**auth(token), **headers}, timeout=30)


@asynccontextmanager
async def mcp_client(proxy: ServerProcess, token: str) -> AsyncIterator[Client]:
    http = httpx2.AsyncClient(headers=auth(token), timeout=httpx2.Timeout(60.0))
    async with http, Client(streamable_http_client(proxy.url + "/mcp", http_client=http)) as client:
        yield client


async def tool_error(client: Client, tool: str, arguments: dict[str, Any]) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, result
    return "".join(block.text for block in result.content if block.type == "text")


def jobs_of(proxy: ServerProcess, token: str) -> list[dict[str, Any]]:
    listed = proxy.http.get("/api/agents/status?limit=100", headers=auth(token))
    assert listed.status_code == 200, listed.text
    jobs: list[dict[str, Any]] = listed.json()["jobs"]
    return jobs


def cancel_all(proxy: ServerProcess, token: str) -> None:
    for job in jobs_of(proxy, token):
        if job["status"] in ("queued", "running"):
            proxy.http.post(f"/api/agents/cancel/{job['id']}", headers=auth(token))


# max_queued_jobs --------------------------------------------------------------------------------


async def test_a_client_at_its_queued_jobs_gets_429_and_another_is_served(
    proxy: ServerProcess, sim: ServerProcess
) -> None:
    sim_config(sim, first_byte_delay=4)  # the jobs stay running (the sim fixture restores the setting)
    task = {"agent": "general", "task": "slow work"}
    try:
        first = post(proxy, "/api/agents/delegate", ALICE, task, **{"idempotency-key": "k1"})
        second = post(proxy, "/api/agents/delegate", ALICE, task)
        assert first.status_code == 202 and second.status_code == 202, second.text
        refused = post(proxy, "/api/agents/delegate", ALICE, task)
        assert refused.status_code == 429, refused.text
        assert refused.headers["retry-after"] == "5"
        error = refused.json()["error"]
        assert error["code"] == "rate_limit_exceeded"
        assert "'alice'" in error["message"] and "max_queued_jobs 2" in error["message"]
        assert ALICE not in refused.text
        assert len(jobs_of(proxy, ALICE)) == 2, "the refused job was not stored"
        # A retried delegate (the same Idempotency-Key) is its job, not a new one: not refused.
        replay = post(proxy, "/api/agents/delegate", ALICE, task, **{"idempotency-key": "k1"})
        assert replay.status_code == 202 and replay.json()["id"] == first.json()["id"]
        async with mcp_client(proxy, ALICE) as alice:
            text = await tool_error(alice, "delegate", task)
            assert "max_queued_jobs 2" in text and "retry after 5 s" in text
        for _ in range(3):  # bob has no limit, and alice's jobs are not his
            assert post(proxy, "/api/agents/delegate", BOB, task).status_code == 202
        counts = proxy.http.get("/api/agents/status", headers=auth(ALICE)).json()["counts"]
        assert counts["queued"] + counts["running"] == 2, counts  # alice's counts are her own
        # A job that ends frees its place at once.
        assert proxy.http.post(f"/api/agents/cancel/{first.json()['id']}", headers=auth(ALICE)).status_code == 200
        assert post(proxy, "/api/agents/delegate", ALICE, task).status_code == 202
    finally:
        cancel_all(proxy, ALICE)
        cancel_all(proxy, BOB)


def test_the_queued_jobs_limit_holds_across_two_replicas_on_redis(
    simulator: ServerProcess, sim: ServerProcess, tmp_path: Path
) -> None:
    clients = {"clients": [{"name": "alice", "token": ALICE, "max_queued_jobs": 1}, {"name": "bob", "token": BOB}]}
    env = {"GEMINI_PROXY_CLIENTS_FILE": str(clients_file(tmp_path, clients))}
    sim_config(sim, first_byte_delay=4)
    task = {"agent": "general", "task": "slow work"}
    with replicas_on_redis(simulator.url, tmp_path, env=env) as (_, one, two):
        assert post(one, "/api/agents/delegate", ALICE, task).status_code == 202
        refused = post(two, "/api/agents/delegate", ALICE, task)
        assert refused.status_code == 429 and "max_queued_jobs 1" in refused.text, refused.text
        assert post(two, "/api/agents/delegate", BOB, task).status_code == 202
        cancel_all(two, ALICE)  # the job one replica runs, cancelled through the other
        assert post(two, "/api/agents/delegate", ALICE, task).status_code == 202
        cancel_all(one, ALICE)
        cancel_all(one, BOB)


# max_job_context_bytes ----------------------------------------------------------------------------


async def test_a_job_over_its_clients_context_limit_is_a_413_and_not_stored(proxy: ServerProcess) -> None:
    before = len(jobs_of(proxy, ALICE))
    big = {"agent": "general", "task": "summarise", "context": "x" * (CONTEXT_LIMIT + 1)}
    refused = post(proxy, "/api/agents/delegate", ALICE, big)
    assert refused.status_code == 413, refused.text
    error = refused.json()["error"]
    assert error["code"] == "job_context_too_large"
    assert "'context'" in error["message"] and str(CONTEXT_LIMIT) in error["message"]
    assert "max_job_context_bytes of client 'alice'" in error["message"]
    as_json = {"agent": "general", "task": "summarise", "context": {"rows": ["y" * 100] * 30}}
    assert post(proxy, "/api/agents/delegate", ALICE, as_json).status_code == 413  # JSON counts as its bytes
    long_task = {"agent": "general", "task": "t" * (CONTEXT_LIMIT + 1)}
    assert post(proxy, "/api/agents/delegate", ALICE, long_task).json()["error"]["message"].startswith("'task'")
    async with mcp_client(proxy, ALICE) as alice:
        text = await tool_error(alice, "delegate", big)
        assert "over the limit of 2048 bytes" in text and "(argument 'context')" in text
    assert len(jobs_of(proxy, ALICE)) == before, "nothing was stored"
    small = {**big, "context": "x" * 100}
    made = post(proxy, "/api/agents/delegate", ALICE, {**small, "wait": 20})
    assert made.status_code == 200 and made.json()["status"] == "succeeded", made.text
    # bob has no limit of his own: the proxy's default applies (GEMINI_PROXY_MAX_JOB_CONTEXT_BYTES).
    assert post(proxy, "/api/agents/delegate", BOB, {**big, "wait": 20}).status_code == 200
    huge = post(proxy, "/api/agents/delegate", BOB, {**big, "context": "x" * DEFAULT_CONTEXT_LIMIT})
    assert huge.status_code == 413 and "GEMINI_PROXY_MAX_JOB_CONTEXT_BYTES" in huge.text, huge.text


# models -----------------------------------------------------------------------------------------


def test_openai_surfaces_refuse_a_model_not_allowed(proxy: ServerProcess) -> None:
    alice = openai.OpenAI(base_url=proxy.url + "/v1", api_key=ALICE, max_retries=0)
    bob = openai.OpenAI(base_url=proxy.url + "/v1", api_key=BOB, max_retries=0)
    hi = [{"role": "user", "content": "hi"}]
    assert alice.chat.completions.create(model=ALLOWED, messages=hi).choices[0].message.content  # type: ignore[arg-type]
    with pytest.raises(openai.PermissionDeniedError) as refused:
        alice.chat.completions.create(model=OTHER, messages=hi)  # type: ignore[arg-type]
    assert refused.value.status_code == 403 and refused.value.code == "model_not_allowed"
    assert refused.value.type == "permission_error"
    assert f"'{OTHER}' is not allowed for client 'alice'" in refused.value.message
    with pytest.raises(openai.PermissionDeniedError):
        alice.chat.completions.create(model=f"models/{OTHER}", messages=hi, stream=True)  # type: ignore[arg-type]
    with pytest.raises(openai.PermissionDeniedError):
        alice.embeddings.create(model="gemini-embedding-001", input=["a"])
    with pytest.raises(openai.PermissionDeniedError):
        alice.responses.create(model=OTHER, input="hi")
    assert alice.responses.create(model=ALLOWED, input="hi").output_text
    assert bob.chat.completions.create(model=OTHER, messages=hi).choices  # type: ignore[arg-type]
    assert bob.embeddings.create(model="gemini-embedding-001", input=["a"]).data
    listed = [m.id for m in alice.models.list()]
    assert ALLOWED in listed and OTHER not in listed and "gemini-embedding-001" not in listed, listed
    assert OTHER in [m.id for m in bob.models.list()]
    with pytest.raises(openai.NotFoundError):
        alice.models.retrieve(OTHER)


def test_anthropic_surface_refuses_a_model_not_allowed(proxy: ServerProcess) -> None:
    alice = anthropic.Anthropic(base_url=proxy.url, api_key=ALICE, max_retries=0)
    bob = anthropic.Anthropic(base_url=proxy.url, api_key=BOB, max_retries=0)
    hi: Any = [{"role": "user", "content": "hi"}]
    assert alice.messages.create(model="claude-sonnet-4-5", max_tokens=32, messages=hi).content  # -> flash
    with pytest.raises(anthropic.PermissionDeniedError) as refused:
        alice.messages.create(model="claude-opus-4-1", max_tokens=32, messages=hi)  # -> gemini-2.5-pro
    assert refused.value.status_code == 403
    body: Any = refused.value.body
    assert body["error"]["type"] == "permission_error" and OTHER in body["error"]["message"]
    with pytest.raises(anthropic.PermissionDeniedError):
        alice.messages.count_tokens(model="claude-opus-4-1", messages=hi)
    with pytest.raises(anthropic.PermissionDeniedError):
        with alice.messages.stream(model=OTHER, max_tokens=32, messages=hi) as stream:
            stream.until_done()
    assert bob.messages.create(model="claude-opus-4-1", max_tokens=32, messages=hi).content
    assert [m.id for m in alice.models.list()] == [ALLOWED]
    assert OTHER in [m.id for m in bob.models.list()]


def test_native_surface_refuses_a_model_not_allowed(proxy: ServerProcess) -> None:
    def native(token: str) -> genai.Client:
        return genai.Client(api_key=token, http_options=types.HttpOptions(base_url=proxy.url))

    alice, bob = native(ALICE), native(BOB)
    assert alice.models.generate_content(model=ALLOWED, contents="hi").text
    refusals = [
        lambda: alice.models.generate_content(model=OTHER, contents="hi"),
        lambda: list(alice.models.generate_content_stream(model=OTHER, contents="hi")),
        lambda: alice.models.count_tokens(model=OTHER, contents="hi"),
        lambda: alice.models.embed_content(model="gemini-embedding-001", contents="hi"),
        lambda: alice.models.get(model=OTHER),
        lambda: alice.caches.create(model=OTHER, config=types.CreateCachedContentConfig(
            contents=["doc " * 50], ttl="300s")),  # fmt: skip
    ]
    for refuse in refusals:
        with pytest.raises(genai_errors.ClientError) as refused:
            refuse()
        assert refused.value.code == 403 and refused.value.status == "PERMISSION_DENIED"
        assert "is not allowed for client 'alice'" in (refused.value.message or "")
    assert bob.models.generate_content(model=OTHER, contents="hi").text
    assert bob.models.count_tokens(model=OTHER, contents="hi").total_tokens
    listed = [m.name for m in alice.models.list()]
    assert listed == [f"models/{ALLOWED}"], listed
    assert f"models/{OTHER}" in [m.name for m in bob.models.list()]
    cache = alice.caches.create(model=ALLOWED, config=types.CreateCachedContentConfig(contents=["doc " * 50],
                                                                                        ttl="300s"))  # fmt: skip
    assert cache.name and alice.caches.delete(name=cache.name) is not None


async def test_simple_agents_and_mcp_refuse_a_model_not_allowed(proxy: ServerProcess) -> None:
    simple = post(proxy, "/api/gemini/generate", ALICE, {"prompt": "hi", "model": OTHER})
    assert simple.status_code == 403 and simple.json()["error"]["code"] == "model_not_allowed", simple.text
    assert post(proxy, "/api/gemini/generate", ALICE, {"prompt": "hi", "model": ALLOWED}).status_code == 200
    assert post(proxy, "/api/gemini/generate", BOB, {"prompt": "hi", "model": OTHER}).status_code == 200
    before = len(jobs_of(proxy, ALICE))
    job = post(proxy, "/api/agents/delegate", ALICE, {"agent": "general", "task": "t", "model": OTHER})
    assert job.status_code == 403 and OTHER in job.json()["error"]["message"], job.text
    assert len(jobs_of(proxy, ALICE)) == before, "nothing was queued"
    async with mcp_client(proxy, ALICE) as alice:
        text = await tool_error(alice, "delegate", {"agent": "general", "task": "t", "model": OTHER})
        assert "is not allowed for client 'alice'" in text
        text = await tool_error(alice, "ask_gemini", {"prompt": "hi", "model": OTHER})
        assert "is not allowed for client 'alice'" in text
        assert not (await alice.call_tool("ask_gemini", {"prompt": "hi", "model": ALLOWED})).is_error
    async with mcp_client(proxy, BOB) as bob:
        assert not (await bob.call_tool("ask_gemini", {"prompt": "hi", "model": OTHER})).is_error

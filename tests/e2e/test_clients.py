"""Named clients (issue 15): alice, bob and the admin against one proxy with a clients file. Each
client's agent jobs (REST and MCP), context caches, thought signatures and stored responses are its
own: the other client gets a 404 and sees nothing listed; the admin token sees everything."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx
import httpx2
import openai
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.e2e.agents_helpers import sim_config
from tests.inprocess import Local, LocalServer
from tests.servers import ServerProcess, start_proxy, until

ALICE, BOB, ADMIN = "tok-alice-0001", "tok-bob-00002", "tok-admin-0003"
CLIENTS = {"clients": [{"name": "alice", "token": ALICE, "rpm": 600}, {"name": "bob", "token": BOB}]}


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def clients_file(directory: Path) -> Path:
    path = directory / "clients.json"
    path.write_text(json.dumps(CLIENTS), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def proxy(simulator: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    path = clients_file(tmp_path_factory.mktemp("clients"))
    server = start_proxy(
        simulator.url, env={"GEMINI_PROXY_CLIENTS_FILE": str(path), "GEMINI_PROXY_ADMIN_TOKEN": ADMIN}
    )
    yield server
    server.stop()


def get(proxy: ServerProcess, path: str, token: str) -> httpx.Response:
    return proxy.http.get(path, headers=auth(token), timeout=10)


def post(proxy: ServerProcess, path: str, token: str, body: dict[str, Any] | None = None) -> httpx.Response:
    return proxy.http.post(path, json=body or {}, headers=auth(token), timeout=30)


def test_a_token_is_its_client_and_a_stranger_is_refused(proxy: ServerProcess) -> None:
    chat = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}
    for token in (ALICE, BOB, ADMIN):
        assert post(proxy, "/v1/chat/completions", token, chat).status_code == 200
    refused = post(proxy, "/v1/chat/completions", "tok-mallory-99", chat)
    assert refused.status_code == 401
    log = proxy.log()
    for token in (ALICE, BOB, ADMIN, "tok-mallory-99"):
        assert token not in log


# Agent jobs over REST ---------------------------------------------------------------------------


def test_jobs_over_rest_are_their_clients(proxy: ServerProcess) -> None:
    created = post(proxy, "/api/agents/delegate", ALICE, {"agent": "general", "task": "alice's secret task"})
    assert created.status_code in (200, 202), created.text
    job_id = created.json()["id"]
    for path in (f"/api/agents/status/{job_id}", f"/api/agents/status?id={job_id}"):
        assert get(proxy, path, ALICE).status_code == 200
        hidden = get(proxy, path, BOB)
        assert hidden.status_code == 404 and "secret" not in hidden.text
        assert get(proxy, path, ADMIN).status_code == 200
    assert job_id not in get(proxy, "/api/agents/status?limit=100", BOB).text
    assert job_id in get(proxy, "/api/agents/status?limit=100", ALICE).text
    assert job_id in get(proxy, "/api/agents/status?limit=100", ADMIN).text
    assert post(proxy, f"/api/agents/cancel/{job_id}", BOB).status_code == 404
    assert get(proxy, f"/api/agents/status/{job_id}", ALICE).json()["status"] != "cancelled"
    # The same Idempotency-Key from two clients makes two jobs: a key never reaches another's job.
    headers = {"idempotency-key": "same-key"}
    first = proxy.http.post("/api/agents/delegate", json={"agent": "general", "task": "a"},
                            headers={**auth(ALICE), **headers})  # fmt: skip
    second = proxy.http.post("/api/agents/delegate", json={"agent": "general", "task": "b"},
                             headers={**auth(BOB), **headers})  # fmt: skip
    assert first.status_code in (200, 202) and second.status_code in (200, 202), second.text
    assert first.json()["id"] != second.json()["id"]


def test_the_admin_cancels_any_clients_job(proxy: ServerProcess, sim: ServerProcess) -> None:
    sim_config(sim, first_byte_delay=3)  # the job stays running (the sim fixture restores the setting)
    job_id = post(proxy, "/api/agents/delegate", ALICE, {"agent": "general", "task": "slow"}).json()["id"]
    assert post(proxy, f"/api/agents/cancel/{job_id}", BOB).status_code == 404
    cancelled = post(proxy, f"/api/agents/cancel/{job_id}", ADMIN)
    assert cancelled.status_code == 200, cancelled.text
    assert get(proxy, f"/api/agents/status/{job_id}", ALICE).json()["status"] == "cancelled"


# Agent jobs over MCP ----------------------------------------------------------------------------


@asynccontextmanager
async def mcp_client(proxy: ServerProcess, token: str) -> AsyncIterator[Client]:
    http = httpx2.AsyncClient(headers=auth(token), timeout=httpx2.Timeout(60.0))
    async with http, Client(streamable_http_client(proxy.url + "/mcp", http_client=http)) as client:
        yield client


async def test_jobs_over_mcp_are_their_clients(proxy: ServerProcess) -> None:
    async with mcp_client(proxy, ALICE) as alice:
        made = await alice.call_tool("delegate", {"agent": "general", "task": "mcp secret", "wait": 20})
        assert not made.is_error and made.structured_content is not None
        job_id = made.structured_content["id"]
        assert not (await alice.call_tool("job_status", {"job_id": job_id})).is_error
    async with mcp_client(proxy, BOB) as bob:
        for tool in ("job_status", "cancel_job"):
            refused = await bob.call_tool(tool, {"job_id": job_id})
            text = "".join(block.text for block in refused.content if block.type == "text")
            assert refused.is_error and "No job with id" in text and "mcp secret" not in text
    async with mcp_client(proxy, ADMIN) as admin:
        seen = await admin.call_tool("job_status", {"job_id": job_id})
        assert not seen.is_error and seen.structured_content is not None
        assert seen.structured_content["status"] == "succeeded"
    # A job made over MCP is the same client's over REST, and only hers.
    assert get(proxy, f"/api/agents/status/{job_id}", ALICE).status_code == 200
    assert get(proxy, f"/api/agents/status/{job_id}", BOB).status_code == 404


# Context caches ---------------------------------------------------------------------------------


def test_caches_are_their_clients(proxy: ServerProcess) -> None:
    body = {"model": "models/gemini-2.5-flash", "contents": [{"role": "user", "parts": [{"text": "doc " * 50}]}],
            "ttl": "300s"}  # fmt: skip
    created = post(proxy, "/v1beta/cachedContents", ALICE, body)
    assert created.status_code == 200, created.text
    name = created.json()["name"]
    item = f"/v1beta/{name}"

    def names(token: str) -> list[str]:
        listed = get(proxy, "/v1beta/cachedContents", token)
        assert listed.status_code == 200, listed.text
        return [c["name"] for c in listed.json().get("cachedContents", [])]

    assert name in names(ALICE) and name in names(ADMIN) and name not in names(BOB)
    assert get(proxy, item, ALICE).status_code == 200
    hidden = get(proxy, item, BOB)
    assert hidden.status_code == 404 and hidden.json()["error"]["status"] == "NOT_FOUND"
    assert get(proxy, item, ADMIN).status_code == 200
    generate = {"contents": [{"role": "user", "parts": [{"text": "about it?"}]}], "cachedContent": name}
    native = "/v1beta/models/gemini-2.5-flash:generateContent"
    assert post(proxy, native, ALICE, generate).status_code == 200
    assert post(proxy, native, BOB, generate).status_code == 404
    chat = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "about it?"}],
            "google": {"cached_content": name}}  # fmt: skip
    assert post(proxy, "/v1/chat/completions", BOB, chat).status_code == 404
    assert post(proxy, "/v1/chat/completions", ALICE, chat).status_code == 200
    assert proxy.http.delete(item, headers=auth(BOB)).status_code == 404
    assert get(proxy, item, ALICE).status_code == 200  # bob's delete did nothing
    assert proxy.http.delete(item, headers=auth(ALICE)).status_code == 200


# Stored responses -------------------------------------------------------------------------------


def test_stored_responses_are_their_clients(proxy: ServerProcess) -> None:
    alice = openai.OpenAI(base_url=proxy.url + "/v1", api_key=ALICE, max_retries=0)
    bob = openai.OpenAI(base_url=proxy.url + "/v1", api_key=BOB, max_retries=0)
    admin = openai.OpenAI(base_url=proxy.url + "/v1", api_key=ADMIN, max_retries=0)
    made = alice.responses.create(model="gemini-2.5-flash", input="alice's private question")
    assert alice.responses.retrieve(made.id).id == made.id
    with pytest.raises(openai.NotFoundError):
        bob.responses.retrieve(made.id)
    with pytest.raises(openai.NotFoundError):
        bob.responses.input_items.list(made.id)
    with pytest.raises(openai.NotFoundError):
        bob.responses.create(model="gemini-2.5-flash", input="go on", previous_response_id=made.id)
    with pytest.raises(openai.NotFoundError):
        bob.responses.delete(made.id)
    assert admin.responses.retrieve(made.id).id == made.id
    assert [i.type for i in admin.responses.input_items.list(made.id).data] == ["message"]
    follow = alice.responses.create(model="gemini-2.5-flash", input="go on", previous_response_id=made.id)
    assert follow.previous_response_id == made.id
    alice.responses.delete(made.id)
    with pytest.raises(openai.NotFoundError):
        admin.responses.retrieve(made.id)


# Thought signatures -----------------------------------------------------------------------------


class Recorder:
    """An ASGI app in front of the simulator keeping each request body it passes on."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.bodies: list[dict[str, Any]] = []

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def recording() -> Any:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                raw = b"".join(chunks)
                if raw:
                    self.bodies.append(json.loads(raw))
            return message

        await self.app(scope, recording, send)


WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}  # fmt: skip


def test_a_signature_goes_back_only_with_its_clients_history(
    portal: anyio.from_thread.BlockingPortal, tmp_path: Path
) -> None:
    local = Local(portal)
    try:
        recorder = Recorder(local.simulator().app)
        upstream = LocalServer.__new__(LocalServer)
        upstream.app = recorder
        proxy = local.proxy(upstream, clients_file=clients_file(tmp_path))
        model = "gemini-3-flash-preview"
        asked = [{"role": "user", "content": "Please call get_weather for Paris"}]
        first = proxy.http.post("/v1/chat/completions", headers=auth(ALICE),
                                json={"model": model, "messages": asked, "tools": [WEATHER]})  # fmt: skip
        assert first.status_code == 200, first.text
        (call,) = first.json()["choices"][0]["message"]["tool_calls"]
        signature = call["extra_content"]["google"]["thought_signature"]
        # The history as a client that keeps only OpenAI's fields sends it: the proxy fills in the signature.
        bare = {"id": call["id"], "type": "function", "function": call["function"]}
        history = [*asked, {"role": "assistant", "tool_calls": [bare]},
                   {"role": "tool", "tool_call_id": call["id"], "content": "sunny"}]  # fmt: skip

        def sent_signatures(token: str) -> list[str]:
            recorder.bodies.clear()
            answer = proxy.http.post("/v1/chat/completions", headers=auth(token),
                                     json={"model": model, "messages": history, "tools": [WEATHER]})  # fmt: skip
            assert answer.status_code == 200, answer.text
            (body,) = recorder.bodies
            return [part["thoughtSignature"] for content in body["contents"]
                    for part in content["parts"] if "functionCall" in part and "thoughtSignature" in part]  # fmt: skip

        assert sent_signatures(BOB) != [signature]  # bob's history naming alice's call id: not alice's signature
        assert signature not in json.dumps(recorder.bodies)
        assert sent_signatures(ALICE) == [signature]  # alice's own history gets hers back
    finally:
        local.close()


def test_log_lines_name_the_client_never_its_token(simulator: ServerProcess, tmp_path: Path) -> None:
    proxy = start_proxy(simulator.url, env={"GEMINI_PROXY_CLIENTS_FILE": str(clients_file(tmp_path)),
                                            "GEMINI_PROXY_ACCESS_LOG": "true"})  # fmt: skip
    try:
        assert get(proxy, "/v1beta/models", BOB).status_code == 200
    finally:
        proxy.stop()
    lines = [json.loads(line) for line in proxy.log().splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "uvicorn.access" and "/v1beta/models" in line["message"]]
    assert access and all(line.get("client") == "bob" for line in access), access
    assert BOB not in proxy.log()


# Limits (in one process) ----------------------------------------------------------------------


def test_a_client_over_its_rpm_gets_429_in_each_surfaces_shape_and_others_are_served(
    portal: anyio.from_thread.BlockingPortal, tmp_path: Path
) -> None:
    path = tmp_path / "clients.json"
    path.write_text(json.dumps({"clients": [{"name": "alice", "token": ALICE, "rpm": 2},
                                            {"name": "bob", "token": BOB}]}), encoding="utf-8")  # fmt: skip
    local = Local(portal)
    try:
        proxy = local.proxy(local.simulator(), clients_file=path)
        chat = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}
        for _ in range(2):
            assert proxy.http.post("/v1/chat/completions", json=chat, headers=auth(ALICE)).status_code == 200
        openai_shape = proxy.http.post("/v1/chat/completions", json=chat, headers=auth(ALICE))
        # until the minute (counted in 10 s buckets) has room again
        assert openai_shape.status_code == 429 and 1 <= int(openai_shape.headers["retry-after"]) <= 70
        assert openai_shape.json()["error"]["type"] == "rate_limit_error"
        assert "alice" in openai_shape.json()["error"]["message"] and ALICE not in openai_shape.text
        messages = {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
        anthropic_shape = proxy.http.post("/v1/messages", json=messages,
                                          headers={"x-api-key": ALICE, "anthropic-version": "2023-06-01"})  # fmt: skip
        assert anthropic_shape.status_code == 429 and "retry-after" in anthropic_shape.headers
        assert anthropic_shape.json()["type"] == "error"
        gen = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
        google_shape = proxy.http.post("/v1beta/models/gemini-2.5-flash:generateContent", json=gen,
                                       headers={"x-goog-api-key": ALICE})  # fmt: skip
        assert google_shape.status_code == 429 and "retry-after" in google_shape.headers
        assert google_shape.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
        for _ in range(5):  # bob has no limit, and alice's spent minute is not his
            assert proxy.http.post("/v1/chat/completions", json=chat, headers=auth(BOB)).status_code == 200
        assert proxy.http.get("/health").status_code == 200  # open routes are not counted
    finally:
        local.close()


def test_a_client_at_its_concurrency_limit_gets_429_while_another_is_served(
    portal: anyio.from_thread.BlockingPortal, tmp_path: Path
) -> None:
    import threading

    path = tmp_path / "clients.json"
    path.write_text(json.dumps({"clients": [{"name": "alice", "token": ALICE, "max_concurrency": 1},
                                            {"name": "bob", "token": BOB}]}), encoding="utf-8")  # fmt: skip
    local = Local(portal)
    try:
        sim = local.simulator()
        proxy = local.proxy(sim, clients_file=path)
        chat = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}
        sim.config.patch({"first_byte_delay": 1.0})
        slow: list[int] = []
        first = threading.Thread(target=lambda: slow.append(
            proxy.http.post("/v1/chat/completions", json=chat, headers=auth(ALICE)).status_code))  # fmt: skip
        first.start()
        limiter = proxy.app.limiter  # type: ignore[attr-defined]
        for _ in range(200):  # until alice's first request is in flight
            if limiter.in_flight("alice"):
                break
            threading.Event().wait(0.01)
        busy = proxy.http.post("/v1/chat/completions", json=chat, headers=auth(ALICE))
        assert busy.status_code == 429 and busy.headers["retry-after"] == "1"
        assert "1 requests at once" in busy.json()["error"]["message"]
        assert proxy.http.post("/v1/chat/completions", json=chat, headers=auth(BOB)).status_code == 200
        first.join(10)
        assert slow == [200]
        sim.config.patch({"first_byte_delay": 0})
        assert proxy.http.post("/v1/chat/completions", json=chat, headers=auth(ALICE)).status_code == 200
    finally:
        local.close()


def test_a_clients_file_edited_while_the_proxy_runs_is_taken(simulator: ServerProcess, tmp_path: Path) -> None:
    path = clients_file(tmp_path)
    proxy = start_proxy(simulator.url, env={"GEMINI_PROXY_CLIENTS_FILE": str(path)})
    try:
        chat = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}
        carol = "tok-carol-0004"
        assert post(proxy, "/v1/chat/completions", carol, chat).status_code == 401
        assert post(proxy, "/v1/chat/completions", BOB, chat).status_code == 200
        edited = {"clients": [{"name": "alice", "token": ALICE, "rpm": 1}, {"name": "carol", "token": carol}]}
        path.write_text(json.dumps(edited), encoding="utf-8")
        assert until(lambda: post(proxy, "/v1/chat/completions", carol, chat).status_code == 200, 10.0)
        assert post(proxy, "/v1/chat/completions", BOB, chat).status_code == 401  # removed
        assert post(proxy, "/v1/chat/completions", ALICE, chat).status_code == 200
        assert post(proxy, "/v1/chat/completions", ALICE, chat).status_code == 429  # her new rpm
        path.write_text("{broken", encoding="utf-8")  # a bad edit keeps the clients in force
        assert until(lambda: "keeping the last good one" in proxy.log(), 10.0)
        assert post(proxy, "/v1/chat/completions", carol, chat).status_code == 200
        assert carol not in proxy.log() and ALICE not in proxy.log()
    finally:
        proxy.stop()

"""Agent delegation as MCP tools at ``/mcp``, through the official MCP Python client over
streamable HTTP, in front of the simulator."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult

from tests.e2e.agents_helpers import job, sim_config, sim_stats, wait_for
from tests.servers import ServerProcess, replicas_on_redis, start_proxy, until

TOOLS = {"list_agents", "delegate", "job_status", "cancel_job", "ask_gemini"}


@asynccontextmanager
async def mcp_client(proxy: ServerProcess, *, token: str | None = None, mode: str = "auto") -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60.0))
    async with http, Client(streamable_http_client(proxy.url + "/mcp", http_client=http), mode=mode) as client:
        yield client


async def call(proxy: ServerProcess, tool: str, arguments: dict[str, Any], **options: Any) -> CallToolResult:
    async with mcp_client(proxy) as client:
        return await client.call_tool(tool, arguments, **options)


def text_of(result: CallToolResult) -> str:
    return "".join(block.text for block in result.content if block.type == "text")


@pytest.mark.parametrize("mode", ["auto", "legacy"])  # the 2026 protocol, and the initialize handshake
async def test_tools_are_listed_with_schemas(proxy: ServerProcess, mode: str) -> None:
    async with mcp_client(proxy, mode=mode) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == TOOLS
    delegate = tools["delegate"]
    assert set(delegate.input_schema["required"]) == {"agent", "task"}
    assert delegate.input_schema["properties"]["wait"]["maximum"] == 300
    for name in TOOLS:
        assert tools[name].output_schema is not None and tools[name].output_schema["type"] == "object", name
    assert "usage" in delegate.output_schema["properties"]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_delegate_with_wait_returns_the_answer_and_exact_usage(
    sim: ServerProcess, proxy: ServerProcess, mode: str
) -> None:
    async with mcp_client(proxy, mode=mode) as client:
        result = await client.call_tool(
            "delegate", {"agent": "summarizer", "task": "Summarise this", "context": "A long text.", "wait": 20}
        )
    assert not result.is_error, text_of(result)
    done = result.structured_content
    assert done is not None and done["status"] == "succeeded"
    assert done["text"].endswith("Summarise this") and text_of(result) == done["text"]
    # The same job, read over REST: the same answer and Gemini's exact usage.
    stored = job(proxy, done["id"])
    assert stored["result"]["text"] == done["text"] and stored["usage"] == done["usage"]
    assert done["usage"]["prompt_tokens"] > 0 and done["usage"]["total_tokens"] == (
        done["usage"]["prompt_tokens"] + done["usage"]["completion_tokens"]
    )
    assert sim_stats(sim)["total"] == 1


async def test_delegate_without_wait_then_status(proxy: ServerProcess) -> None:
    queued = await call(proxy, "delegate", {"agent": "general", "task": "Later, please"})
    info = queued.structured_content
    assert info is not None and info["status"] in ("queued", "running") and info["text"] is None
    wait_for(proxy, info["id"])
    status = await call(proxy, "job_status", {"job_id": info["id"]})
    assert status.structured_content is not None and status.structured_content["status"] == "succeeded"
    assert text_of(status).endswith("Later, please")


async def test_progress_notifications_while_delegate_waits(sim: ServerProcess, proxy: ServerProcess) -> None:
    sim_config(sim, first_byte_delay=2.5)
    seen: list[tuple[float, float | None, str | None]] = []

    async def progress(value: float, total: float | None, message: str | None) -> None:
        seen.append((value, total, message))

    result = await call(
        proxy, "delegate", {"agent": "general", "task": "slowly", "wait": 30}, progress_callback=progress
    )
    assert result.structured_content is not None and result.structured_content["status"] == "succeeded"
    assert len(seen) >= 2, seen
    assert all(total == 30 for _, total, _ in seen) and [v for v, _, _ in seen] == sorted(v for v, _, _ in seen)
    assert "is running" in (seen[0][2] or "")


async def test_cancel_job(sim: ServerProcess, proxy: ServerProcess) -> None:
    sim_config(sim, first_byte_delay=30)
    started = (await call(proxy, "delegate", {"agent": "general", "task": "long"})).structured_content
    assert started is not None
    wait_for(proxy, started["id"], statuses=("running",))
    cancelled = await call(proxy, "cancel_job", {"job_id": started["id"]})
    assert cancelled.structured_content is not None and cancelled.structured_content["status"] == "cancelled"
    assert job(proxy, started["id"])["status"] == "cancelled"
    again = await call(proxy, "cancel_job", {"job_id": started["id"]})  # cancelling twice is fine
    assert not again.is_error and again.structured_content["status"] == "cancelled"  # type: ignore[index]


async def test_ask_gemini(sim: ServerProcess, proxy: ServerProcess) -> None:
    result = await call(
        proxy, "ask_gemini", {"prompt": "Hello there", "system": "Be brief.", "model": "gemini-2.0-flash"}
    )
    assert not result.is_error, text_of(result)
    answer = result.structured_content
    assert answer is not None and answer["model"] == "gemini-2.0-flash" and answer["finish_reason"] == "stop"
    assert text_of(result) == answer["text"] and "Hello there" in answer["text"]
    assert answer["usage"]["prompt_tokens"] > 0 and answer["usage"]["completion_tokens"] > 0
    assert sim_stats(sim)["by_model"] == {"gemini-2.0-flash": 1}
    # Tool calls are counted like requests, under surface "mcp", with the status they would have had.
    await call(proxy, "job_status", {"job_id": "job_nope"})
    metrics = httpx.get(proxy.url + "/metrics").text
    assert '{model="gemini-2.0-flash",status="200",surface="mcp"}' in metrics
    assert '{model="",status="404",surface="mcp"}' in metrics


async def test_list_agents(proxy: ServerProcess) -> None:
    result = await call(proxy, "list_agents", {})
    agents = {a["name"]: a for a in result.structured_content["agents"]}  # type: ignore[index]
    assert {"general", "summarizer", "coder", "extractor"} <= set(agents)
    assert agents["summarizer"]["source"] == "builtin" and agents["summarizer"]["model"]


@pytest.mark.parametrize(
    ("tool", "arguments", "expected"),
    [
        ("delegate", {"agent": "general", "task": "x", "wait": 999}, "wait"),
        ("delegate", {"agent": "general"}, "task"),
        ("delegate", {"agent": "general", "task": "   "}, "argument 'task'"),
        ("delegate", {"agent": "nobody", "task": "x"}, "known agents: coder, extractor, general, summarizer"),
        ("delegate", {"agent": "general", "task": "x", "model": "gemini/../x"}, "argument 'model'"),
        ("delegate", {"agent": "general", "task": "x", "context": 5}, "context"),
        ("job_status", {"job_id": "job_nope"}, "No job with id 'job_nope'"),
        ("cancel_job", {"job_id": ""}, "job_id"),
        ("ask_gemini", {"prompt": ""}, "prompt"),
        ("ask_gemini", {"prompt": "x", "model": "gemini-9-ultra"}, "gemini-9-ultra"),
    ],
)
async def test_bad_arguments_are_tool_errors_naming_the_argument(
    proxy: ServerProcess, tool: str, arguments: dict[str, Any], expected: str
) -> None:
    result = await call(proxy, tool, arguments)
    assert result.is_error and expected in text_of(result), text_of(result)


async def test_client_tokens_guard_mcp(sim: ServerProcess) -> None:
    proxy = start_proxy(sim.url, env={"GEMINI_PROXY_AUTH_TOKENS": "tok-alice"})
    try:
        anonymous = httpx.post(proxy.url + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert anonymous.status_code == 401
        with pytest.raises(Exception):  # noqa: B017 - the SDK wraps the 401 in its own error types
            async with mcp_client(proxy, token="tok-mallory") as client:
                await client.list_tools()
        async with mcp_client(proxy, token="tok-alice") as client:
            assert {t.name for t in (await client.list_tools()).tools} == TOOLS
            answer = await client.call_tool("ask_gemini", {"prompt": "hi"})
        assert not answer.is_error
        assert "tok-alice" not in proxy.log()
    finally:
        proxy.stop()


async def test_replicas_on_redis_delegate_on_one_status_on_the_other(sim: ServerProcess, tmp_path: Path) -> None:
    with replicas_on_redis(sim.url, tmp_path) as (_redis, first, second):
        queued = (await call(first, "delegate", {"agent": "general", "task": "shared"})).structured_content
        assert queued is not None
        assert until(lambda: job(second, queued["id"])["status"] == "succeeded", 15)
        status = await call(second, "job_status", {"job_id": queued["id"]})
        assert status.structured_content is not None and status.structured_content["status"] == "succeeded"
        assert text_of(status).endswith("shared")


async def test_two_workers_answer_any_mcp_request(sim: ServerProcess, tmp_path: Path) -> None:
    # Each call is a new connection, spread over the workers by the kernel: a job delegated on one
    # worker is read on whichever answers next, and a legacy client's requests need no shared session.
    proxy = start_proxy(sim.url, env={"GEMINI_PROXY_DB": str(tmp_path / "state.db")}, args=["--workers", "2"])
    try:
        ids = []
        for i in range(6):
            result = await call(proxy, "delegate", {"agent": "general", "task": f"task {i}", "wait": 20})
            assert result.structured_content is not None and result.structured_content["status"] == "succeeded"
            ids.append(result.structured_content["id"])
        for job_id in ids:
            async with mcp_client(proxy, mode="legacy") as client:
                status = await client.call_tool("job_status", {"job_id": job_id})
                listed = await client.call_tool("list_agents", {})
            assert status.structured_content["status"] == "succeeded" and not listed.is_error  # type: ignore[index]
    finally:
        proxy.stop()


async def test_the_agents_file_is_reloaded_and_a_bad_one_keeps_the_last_good(
    sim: ServerProcess, tmp_path: Path
) -> None:
    path = tmp_path / "agents.json"
    path.write_text(json.dumps({"pirate": {"description": "Talks like a pirate.", "system": "Arr."}}))
    proxy = start_proxy(sim.url, env={"GEMINI_PROXY_AGENTS_FILE": str(path)})

    def names() -> set[str]:
        return {a["name"] for a in httpx.get(proxy.url + "/api/agents").json()["agents"]}

    async def mcp_names() -> set[str]:
        result = await call(proxy, "list_agents", {})
        return {a["name"] for a in result.structured_content["agents"]}  # type: ignore[index]

    try:
        assert "pirate" in names() and "pirate" in await mcp_names()
        path.write_text(json.dumps({"poet": {"description": "Rhymes.", "system": "Answer in rhyme."}}))
        assert until(lambda: "poet" in names(), 10), proxy.log()
        assert "pirate" not in names() and "poet" in await mcp_names()
        done = await call(proxy, "delegate", {"agent": "poet", "task": "Hi", "wait": 20})
        assert done.structured_content["status"] == "succeeded"  # type: ignore[index]
        path.write_text("{not json")
        assert until(lambda: "could not be loaded" in proxy.log(), 10), proxy.log()
        assert "poet" in names(), "a bad file keeps the last good agents"
    finally:
        proxy.stop()


LAZY_SDK = """
import asyncio, sys
from gemini_proxy.app import create_app
from gemini_proxy.config import load_settings

async def main():
    app = create_app(load_settings(keys="fake-key-1", keys_file=None, db="", upstream_url=sys.argv[1]))
    events = asyncio.Queue()
    for kind in ("startup", "shutdown"):
        events.put_nowait({"type": f"lifespan.{kind}"})
    sent = []
    async def send(message):
        sent.append(message["type"])
    await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, events.get, send)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"], sent
    print("mcp" in sys.modules)

asyncio.run(main())
"""


def test_the_sdk_is_not_loaded_at_start_up(simulator: ServerProcess) -> None:
    # Importing the MCP SDK costs about a second and 30 MB: a proxy that never serves MCP does not
    # pay it (the first MCP request loads it, as every test above shows).
    result = subprocess.run(
        [sys.executable, "-c", LAZY_SDK, simulator.url],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tempfile.mkdtemp(),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"

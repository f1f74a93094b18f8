"""Request ids: every answer carries ``x-request-id`` (the client's own when it is sane), the JSON
logs carry it, Anthropic's ``request-id`` and error body are the same id, agent jobs record it.

Answers are checked in process (``tests.inprocess``); the logs on a real proxy child process.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import anyio.from_thread
import httpx
import pytest

from tests.e2e.agents_helpers import delegate, wait_for
from tests.inprocess import Local, LocalServer
from tests.servers import ServerProcess, start_proxy

CHAT = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}
GEN = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
MESSAGES = {"model": "claude-sonnet-4-5", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
NEW_ID = re.compile(r"req_[0-9a-f]{12}[0-9a-f]+")


@pytest.fixture(scope="module")
def proxy(portal: anyio.from_thread.BlockingPortal) -> Iterator[LocalServer]:
    local = Local(portal)
    try:
        yield local.proxy(local.simulator(), cors_origins="http://app.example")
    finally:
        local.close()


def _answers(proxy: LocalServer, headers: dict[str, str]) -> list[httpx.Response]:
    http = proxy.http
    return [
        http.post("/v1/chat/completions", json=CHAT, headers=headers),
        http.post("/v1/chat/completions", json={**CHAT, "stream": True}, headers=headers),
        http.post("/v1/chat/completions", content=b"{", headers=headers),  # 400
        http.post("/v1/messages", json=MESSAGES, headers=headers),
        http.post("/v1/responses", json={"model": "gemini-2.5-flash", "input": "hi"}, headers=headers),
        http.post("/v1beta/models/gemini-2.5-flash:generateContent", json=GEN, headers=headers),
        http.post("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", json=GEN, headers=headers),
        http.get("/v1/nothing", headers=headers),  # the router's 404
        http.delete("/v1/chat/completions", headers=headers),  # the router's 405
        http.post("/api/gemini/generate", json={"prompt": "hi"}, headers=headers),
        http.get("/health", headers=headers),
        http.options(
            "/v1/chat/completions",
            headers={**headers, "origin": "http://app.example", "access-control-request-method": "POST"},
        ),  # a CORS preflight, answered before any route
    ]


def test_every_answer_has_a_new_id_when_the_client_sent_none(proxy: LocalServer) -> None:
    answers = _answers(proxy, {})
    ids = [response.headers.get("x-request-id") for response in answers]
    for response, rid in zip(answers, ids, strict=True):
        assert rid is not None and NEW_ID.fullmatch(rid), (response.request.method, response.request.url, rid)
    assert len(set(ids)) == len(ids)
    assert [r.status_code for r in answers] == [200, 200, 400, 200, 200, 200, 200, 404, 405, 200, 200, 200]


@pytest.mark.parametrize("sent", ["trace-42", "0f1e2d3c-aaaa-bbbb-cccc-000000000000", "a.b:c_d-E", "x" * 128])
def test_a_sane_client_id_is_kept(proxy: LocalServer, sent: str) -> None:
    for response in _answers(proxy, {"x-request-id": sent}):
        assert response.headers["x-request-id"] == sent, (response.request.url, response.status_code)


@pytest.mark.parametrize("sent", ["x" * 129, "has space", "semi;colon", "new\u00e9", ""])
def test_an_insane_client_id_is_replaced(proxy: LocalServer, sent: str) -> None:
    response = proxy.http.post("/v1/chat/completions", json=CHAT, headers={"x-request-id": sent.encode("utf-8")})
    assert response.status_code == 200
    assert NEW_ID.fullmatch(response.headers["x-request-id"])


def test_anthropic_request_id_is_the_same_id_and_in_its_error_body(proxy: LocalServer) -> None:
    answer = proxy.http.post("/v1/messages", json=MESSAGES, headers={"x-request-id": "anth-1"})
    assert answer.headers["request-id"] == "anth-1"
    error = proxy.http.post("/v1/messages", json={"model": "claude-sonnet-4-5"}, headers={"x-request-id": "anth-2"})
    assert error.status_code == 400
    body = error.json()
    assert body["type"] == "error" and body["request_id"] == "anth-2"
    assert error.headers["request-id"] == "anth-2" and error.headers["x-request-id"] == "anth-2"


def test_other_error_shapes_are_unchanged(proxy: LocalServer) -> None:
    openai = proxy.http.post("/v1/chat/completions", content=b"{", headers={"x-request-id": "o-1"})
    assert set(openai.json()["error"]) == {"message", "type", "param", "code"}
    google = proxy.http.post("/v1beta/models/gemini-2.5-flash:generateContent", content=b"{")
    assert set(google.json()["error"]) <= {"code", "message", "status", "details"}


def test_an_agent_job_records_the_request_id(proxy: LocalServer) -> None:
    accepted = delegate(proxy, {"agent": "general", "task": "Say hi"}, headers={"x-request-id": "job-trace-7"})
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["request_id"] == "job-trace-7"
    assert accepted.headers["x-request-id"] == "job-trace-7"
    done = wait_for(proxy, accepted.json()["id"])
    assert done["status"] == "succeeded" and done["request_id"] == "job-trace-7"


@pytest.fixture
def logged(sim: ServerProcess) -> Iterator[ServerProcess]:
    proxy = start_proxy(sim.url, env={"GEMINI_PROXY_ACCESS_LOG": "true", "GEMINI_PROXY_MAX_WAIT": "0"})
    yield proxy
    proxy.stop()


def _log_entries(proxy: ServerProcess) -> list[dict[str, object]]:
    entries = []
    for line in proxy.log().splitlines():
        if line.startswith("{"):
            entries.append(json.loads(line))
    return entries


def test_log_lines_carry_the_request_id(logged: ServerProcess) -> None:
    assert logged.http.post("/v1/chat/completions", json=CHAT, headers={"x-request-id": "find-me-1"}).status_code == 200
    refused = logged.http.post("/v1/chat/completions", json={"model": "gemini-2.5-flash"},
                               headers={"x-request-id": "find-me-2"})  # fmt: skip
    assert refused.status_code == 400
    accepted = delegate(logged, {"agent": "general", "task": "Say hi"}, headers={"x-request-id": "find-me-3"})
    wait_for(logged, accepted.json()["id"])
    logged.stop()
    entries = _log_entries(logged)
    access = [e for e in entries if e.get("logger") == "uvicorn.access"]
    assert any(e.get("request_id") == "find-me-1" and "/v1/chat/completions" in str(e["message"]) for e in access)
    assert any(e.get("request_id") == "find-me-2" and " 400" in str(e["message"]) for e in access)
    finished = [e for e in entries if e.get("message") == "agent job finished"]
    assert finished and finished[0].get("request_id") == "find-me-3"
    started = [e for e in entries if e.get("message") == "gemini-proxy ready"]
    assert started and "request_id" not in started[0]  # nothing outside a request has one

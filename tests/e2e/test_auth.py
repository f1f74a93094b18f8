"""Client tokens: every route but /health needs one, refused in the surface's own error format."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.servers import ServerProcess, start_proxy

TOKEN = "client-token-123"
CHAT = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}
GEN = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


@pytest.fixture(scope="module")
def guarded(simulator: ServerProcess) -> Iterator[ServerProcess]:
    server = start_proxy(simulator.url, env={"GEMINI_PROXY_AUTH_TOKENS": f"other-token,{TOKEN}"})
    yield server
    server.stop()


def test_health_stays_open(guarded: ServerProcess) -> None:
    assert httpx.get(guarded.url + "/health").status_code == 200


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer wrong"}, {"authorization": "Basic " + TOKEN}])
def test_openai_surface_refuses_in_openai_shape(guarded: ServerProcess, headers: dict[str, str]) -> None:
    response = httpx.post(guarded.url + "/v1/chat/completions", json=CHAT, headers=headers)
    assert response.status_code == 401
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == "invalid_api_key"
    assert TOKEN not in response.text


def test_openai_surface_accepts_bearer(guarded: ServerProcess) -> None:
    response = httpx.post(guarded.url + "/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("headers", "params"),
    [({}, {}), ({"x-goog-api-key": "wrong"}, {}), ({}, {"key": "wrong"})],
)
def test_gemini_surface_refuses_in_google_shape(
    guarded: ServerProcess, headers: dict[str, str], params: dict[str, str]
) -> None:
    response = httpx.post(
        guarded.url + "/v1beta/models/gemini-2.5-flash:generateContent", json=GEN, headers=headers, params=params
    )
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == 401 and error["status"] == "UNAUTHENTICATED" and error["message"]


@pytest.mark.parametrize(("headers", "params"), [({"x-goog-api-key": TOKEN}, {}), ({}, {"key": TOKEN})])
def test_gemini_surface_accepts_header_or_query(
    guarded: ServerProcess, headers: dict[str, str], params: dict[str, str]
) -> None:
    response = httpx.post(
        guarded.url + "/v1beta/models/gemini-2.5-flash:generateContent", json=GEN, headers=headers, params=params
    )
    assert response.status_code == 200, response.text
    assert response.json()["candidates"][0]["content"]["parts"][0]["text"]


def test_simple_surface_refuses_in_its_shape(guarded: ServerProcess) -> None:
    response = httpx.post(guarded.url + "/api/gemini/generate", json={"prompt": "hi"})
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"message", "code"}


@pytest.mark.parametrize("path", ["/api/system/status", "/metrics"])
def test_operations_routes_are_guarded(guarded: ServerProcess, path: str) -> None:
    assert httpx.get(guarded.url + path).status_code == 401
    assert httpx.get(guarded.url + path, headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_refused_requests_are_counted(guarded: ServerProcess) -> None:
    def refused(surface: str) -> float:
        metrics = httpx.get(guarded.url + "/metrics", headers={"authorization": f"Bearer {TOKEN}"}).text
        prefix = f'gemini_proxy_requests_total{{model="",status="401",surface="{surface}"}} '
        return sum(float(line[len(prefix) :]) for line in metrics.splitlines() if line.startswith(prefix))

    before = refused("openai"), refused("gemini")
    httpx.post(guarded.url + "/v1/chat/completions", json=CHAT)
    native = guarded.url + "/v1beta/models/gemini-2.5-flash:generateContent"
    httpx.post(native, json=GEN, headers={"x-goog-api-key": "x"})
    assert (refused("openai"), refused("gemini")) == (before[0] + 1, before[1] + 1)

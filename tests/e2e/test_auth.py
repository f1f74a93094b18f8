"""Client tokens: every route but /health needs one, refused in the surface's own error format.

The proxy and the simulator run in process (``tests.inprocess``): nothing here is about sockets.
"""

from __future__ import annotations

from collections.abc import Iterator

import anyio.from_thread
import pytest

from tests.inprocess import Local, LocalServer

TOKEN = "client-token-123"
CHAT = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}
GEN = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


@pytest.fixture(scope="module")
def guarded(portal: anyio.from_thread.BlockingPortal) -> Iterator[LocalServer]:
    local = Local(portal)
    try:
        yield local.proxy(local.simulator(), auth_tokens=f"other-token,{TOKEN}")
    finally:
        local.close()


def test_health_stays_open(guarded: LocalServer) -> None:
    assert guarded.http.get("/health").status_code == 200


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer wrong"}, {"authorization": "Basic " + TOKEN}])
def test_openai_surface_refuses_in_openai_shape(guarded: LocalServer, headers: dict[str, str]) -> None:
    response = guarded.http.post("/v1/chat/completions", json=CHAT, headers=headers)
    assert response.status_code == 401
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == "invalid_api_key"
    assert TOKEN not in response.text


def test_openai_surface_accepts_bearer(guarded: LocalServer) -> None:
    response = guarded.http.post("/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("headers", "params"),
    [({}, {}), ({"x-goog-api-key": "wrong"}, {}), ({}, {"key": "wrong"})],
)
def test_gemini_surface_refuses_in_google_shape(
    guarded: LocalServer, headers: dict[str, str], params: dict[str, str]
) -> None:
    response = guarded.http.post(
        "/v1beta/models/gemini-2.5-flash:generateContent", json=GEN, headers=headers, params=params
    )
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == 401 and error["status"] == "UNAUTHENTICATED" and error["message"]


@pytest.mark.parametrize(("headers", "params"), [({"x-goog-api-key": TOKEN}, {}), ({}, {"key": TOKEN})])
def test_gemini_surface_accepts_header_or_query(
    guarded: LocalServer, headers: dict[str, str], params: dict[str, str]
) -> None:
    response = guarded.http.post(
        "/v1beta/models/gemini-2.5-flash:generateContent", json=GEN, headers=headers, params=params
    )
    assert response.status_code == 200, response.text
    assert response.json()["candidates"][0]["content"]["parts"][0]["text"]


def test_simple_surface_refuses_in_its_shape(guarded: LocalServer) -> None:
    response = guarded.http.post("/api/gemini/generate", json={"prompt": "hi"})
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"message", "code"}


@pytest.mark.parametrize("path", ["/api/system/status", "/metrics"])
def test_operations_routes_are_guarded(guarded: LocalServer, path: str) -> None:
    assert guarded.http.get(path).status_code == 401
    assert guarded.http.get(path, headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_refused_requests_are_counted(guarded: LocalServer) -> None:
    def refused(surface: str) -> float:
        metrics = guarded.http.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"}).text
        prefix = f'gemini_proxy_requests_total{{model="",status="401",surface="{surface}"}} '
        return sum(float(line[len(prefix) :]) for line in metrics.splitlines() if line.startswith(prefix))

    before = refused("openai"), refused("gemini")
    guarded.http.post("/v1/chat/completions", json=CHAT)
    native = guarded.url + "/v1beta/models/gemini-2.5-flash:generateContent"
    guarded.http.post(native, json=GEN, headers={"x-goog-api-key": "x"})
    assert (refused("openai"), refused("gemini")) == (before[0] + 1, before[1] + 1)

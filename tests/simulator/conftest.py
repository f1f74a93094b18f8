from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from gemini_proxy.simulator import BackgroundSimulator, SimulatorConfig
from tests.fixtures import GEMINI_FIXTURES as FIXTURES

__all__ = ["FIXTURES", "Sim", "user"]

KEY = "sim-key-1"


class Sim:
    """A running simulator plus an httpx client bound to it."""

    def __init__(self, server: BackgroundSimulator) -> None:
        self.server = server
        self.config = server.config
        self.base_url = server.base_url
        self.http = httpx.Client(base_url=server.base_url, timeout=10)

    def post(self, path: str, body: Any = None, key: str | None = KEY, **kw: Any) -> httpx.Response:
        headers = {"x-goog-api-key": key} if key else {}
        return self.http.post(path, json=body, headers=headers, **kw)

    def get(self, path: str, key: str | None = KEY, **kw: Any) -> httpx.Response:
        headers = {"x-goog-api-key": key} if key else {}
        return self.http.get(path, headers=headers, **kw)

    def generate(self, model: str, body: dict[str, Any], key: str = KEY) -> httpx.Response:
        return self.post(f"/v1beta/models/{model}:generateContent", body, key)

    def stream(self, model: str, body: dict[str, Any], sse: bool = True, key: str = KEY) -> httpx.Response:
        q = "?alt=sse" if sse else ""
        return self.post(f"/v1beta/models/{model}:streamGenerateContent{q}", body, key)


def user(text: str) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}]}


@pytest.fixture(scope="module")
def _shared() -> Iterator[Sim]:
    with BackgroundSimulator(SimulatorConfig()) as server:
        sim = Sim(server)
        yield sim
        sim.http.close()


@pytest.fixture
def sim(_shared: Sim) -> Iterator[Sim]:
    """A shared default simulator, reset before each test; settings a test patched (and a scenario it set)
    are undone after it."""
    defaults = _shared.config.settings()
    _shared.config.reset()
    yield _shared
    _shared.config.patch(defaults)
    _shared.config.scenario = None


@pytest.fixture
def make_sim() -> Iterator[Callable[..., Sim]]:
    """Start a dedicated simulator with the given SimulatorConfig fields."""
    started: list[Sim] = []

    def factory(**fields: Any) -> Sim:
        s = Sim(BackgroundSimulator(SimulatorConfig(**fields)).start())
        started.append(s)
        return s

    yield factory
    for s in started:
        s.http.close()
        s.server.stop()

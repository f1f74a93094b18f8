"""Embeddings amplification: at most 2,048 inputs per request (OpenAI's limit), and at most a few
batch calls of one request upstream at once. In process, with a counter of the calls the
simulator has in flight in front of it.
"""

from __future__ import annotations

from typing import Any

from tests.inprocess import Local, LocalServer


class InFlight:
    """An ASGI app in front of another that records how many requests it had at once."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.now = 0
        self.most = 0
        self.total = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.now += 1
        self.total += 1
        self.most = max(self.most, self.now)
        try:
            await self.app(scope, receive, send)
        finally:
            self.now -= 1


def _embed(proxy: LocalServer, count: int) -> Any:
    return proxy.http.post(
        "/v1/embeddings", json={"model": "gemini-embedding-001", "input": [f"text {i}" for i in range(count)]}
    )


def test_more_than_2048_inputs_is_a_400_before_anything_is_sent(local: Local) -> None:
    sim = local.simulator()
    counter = InFlight(sim.app)
    proxy = local.proxy(LocalServer("counted", local.portal, counter))
    response = _embed(proxy, 2049)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "input" and "2048" in error["message"]
    assert counter.total == 0
    big = _embed(proxy, 100_000)
    assert big.status_code == 400 and counter.total == 0


def test_2048_inputs_are_embedded_with_few_calls_in_flight(local: Local) -> None:
    sim = local.simulator()
    sim.http.post("/_sim/config", json={"first_byte_delay": 0.01}).raise_for_status()
    counter = InFlight(sim.app)
    proxy = local.proxy(LocalServer("counted", local.portal, counter))
    response = _embed(proxy, 2048)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert len(data) == 2048 and [item["index"] for item in data] == list(range(2048))
    assert counter.total >= 21  # 2048 texts in batches of 100
    assert 1 < counter.most <= 4

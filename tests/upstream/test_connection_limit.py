"""GEMINI_PROXY_UPSTREAM_MAX_CONNECTIONS end to end: the proxy (in process) opens no more connections
to a real simulator on loopback than the setting allows, and /metrics shows the requests that waited."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from gemini_proxy.app import create_app
from gemini_proxy.config import Settings
from gemini_proxy.simulator import BackgroundSimulator, SimulatorConfig
from tests.inprocess import Lifespan

KEYS = ("sim-key-1", "sim-key-2", "sim-key-3")
CHAT = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}


def settings(upstream: str, **options: object) -> Settings:
    return Settings(_env_file=None, keys=",".join(KEYS), keys_file=None, db="", upstream_url=upstream, **options)  # type: ignore[call-arg]


async def test_requests_past_the_limit_wait_for_a_connection_and_the_wait_is_counted() -> None:
    config = SimulatorConfig(keys=dict.fromkeys(KEYS), first_byte_delay=0.1)
    with BackgroundSimulator(config) as sim:
        app = create_app(settings(sim.base_url, upstream_max_connections=2))
        lifespan = Lifespan(app)
        await lifespan.say("startup")
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://proxy.test") as client:
                answers = await asyncio.gather(*(client.post("/v1/chat/completions", json=CHAT) for _ in range(6)))
                assert [answer.status_code for answer in answers] == [200] * 6
                metrics = (await client.get("/metrics")).text
        finally:
            await lifespan.stop()
        stats = httpx.get(sim.base_url + "/_sim/stats").json()
    assert stats["total"] == 6 and stats["connections"] == 2  # six answers over two connections
    waited = re.search(r"^gemini_proxy_upstream_connection_wait_seconds_count (\S+)$", metrics, re.M)
    assert waited is not None and float(waited.group(1)) == 4.0  # all but the first two waited
    total = re.search(r"^gemini_proxy_upstream_connection_wait_seconds_sum (\S+)$", metrics, re.M)
    assert total is not None and float(total.group(1)) >= 4 * 0.1 * 0.9  # each waited about one answer or more
    assert 'gemini_proxy_upstream_connections{state="idle"} 2.0' in metrics
    assert 'gemini_proxy_upstream_connections{state="waiting"} 0.0' in metrics


def test_the_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_PROXY_UPSTREAM_MAX_CONNECTIONS", "7")
    assert Settings(_env_file=None).upstream_max_connections == 7  # type: ignore[call-arg]
    monkeypatch.delenv("GEMINI_PROXY_UPSTREAM_MAX_CONNECTIONS")
    assert Settings(_env_file=None).upstream_max_connections == 2048  # type: ignore[call-arg]

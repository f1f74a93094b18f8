"""KnownModels: which model names get state of their own, and when the model list is read."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from gemini_proxy.errors import UpstreamStatusError, UpstreamUnavailable
from gemini_proxy.simulator import BackgroundSimulator, SimulatorConfig
from gemini_proxy.state.memory import MemoryStore
from gemini_proxy.upstream import urls
from gemini_proxy.upstream.client import GeminiClient, make_connections
from gemini_proxy.upstream.gateway import Gateway
from gemini_proxy.upstream.keys import ApiKey
from gemini_proxy.upstream.model_names import OTHER, KnownModels
from gemini_proxy.upstream.pool import KeyPool

MODEL = "gemini-2.5-flash"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_known_names_are_their_own_bucket_and_the_rest_share_one() -> None:
    names = KnownModels(["gemini-2.5-flash", "models/gemini-2.5-pro"])
    assert names.bucket("gemini-2.5-flash") == "gemini-2.5-flash"
    assert names.bucket("models/gemini-2.5-flash") == "gemini-2.5-flash"
    assert names.bucket("gemini-2.5-pro") == "gemini-2.5-pro"
    assert names.bucket("no-such-model-1") == OTHER
    assert names.bucket("no-such-model-2") == OTHER
    assert names.bucket("models:list") == "models:list", "the pool's pseudo-models are known"
    assert names.bucket("") == "", "no model (refused before it was read) stays empty"
    assert "models/gemini-2.5-pro" in names and "no-such-model-1" not in names


def test_the_set_is_bounded() -> None:
    names = KnownModels(limit=10)
    names.learn(f"model-{i}" for i in range(100))
    assert len(names) == 10
    assert names.bucket("model-99") == OTHER


def test_an_unknown_name_reads_the_list_once_and_a_failed_read_waits_a_minute() -> None:
    clock = Clock()
    names = KnownModels(clock=clock, refresh_interval=60.0)
    reads: list[float] = []
    listed = ["gemini-2.5-flash"]

    async def refresh() -> None:
        reads.append(clock.now)
        if not listed:
            raise UpstreamUnavailable("no answer")
        names.learn(listed)

    names.refresh = refresh

    async def scenario() -> None:
        assert await names.resolve("gemini-2.5-flash") == "gemini-2.5-flash"
        assert len(reads) == 1
        assert await names.resolve("gemini-2.5-flash") == "gemini-2.5-flash"
        for i in range(100):  # a flood of junk names: no read until the interval has passed
            assert await names.resolve(f"junk-{i}") == OTHER
        assert len(reads) == 1
        clock.now += 61
        listed.clear()  # the next read fails: the name stays in the shared bucket, logged, no error
        assert await names.resolve("junk-x") == OTHER
        assert await names.resolve("junk-y") == OTHER
        assert len(reads) == 2

    asyncio.run(scenario())


def test_requests_that_come_during_a_read_wait_for_it() -> None:
    names = KnownModels()
    reads = 0

    async def refresh() -> None:
        nonlocal reads
        reads += 1
        await asyncio.sleep(0)
        names.learn(["gemini-new"])

    names.refresh = refresh

    async def scenario() -> list[str]:
        return await asyncio.gather(*(names.resolve("gemini-new") for _ in range(20)))

    assert asyncio.run(scenario()) == ["gemini-new"] * 20
    assert reads == 1


async def test_a_model_google_serves_but_does_not_list_gets_its_own_bucket() -> None:
    keys = [ApiKey("names-key-1"), ApiKey("names-key-2")]
    with BackgroundSimulator(SimulatorConfig(keys={key.secret: "" for key in keys})) as sim:
        pool = KeyPool(keys, MemoryStore())
        await pool.start()
        connections = make_connections(base_url=sim.base_url, connect_timeout=5, request_timeout=10)
        names = KnownModels()
        reads = 0

        async def empty_list() -> None:  # a model list that does not name the model served below
            nonlocal reads
            reads += 1

        names.refresh = empty_list
        gateway = Gateway(GeminiClient(connections), pool, names=names)
        body = orjson.dumps({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
        try:
            with pytest.raises(UpstreamStatusError) as not_found:
                junk = urls.model_method("no-such-model", "generateContent")
                await gateway.call("no-such-model", "POST", junk, body=body)
            assert not_found.value.upstream_status == 404
            await gateway.call(MODEL, "POST", urls.model_method(MODEL, "generateContent"), body=body)
            await gateway.call(MODEL, "POST", urls.model_method(MODEL, "generateContent"), body=body)
            await asyncio.sleep(0)  # an answer's bookkeeping runs in the loop's next turn
            per_key = [key["models"] for key in pool.snapshot()]
        finally:
            await connections.close()
            await pool.close()
        assert reads == 1, "the list was read for the first unknown name only"
        assert {name for models in per_key for name in models} == {MODEL, OTHER}
        assert sum(models[MODEL]["requests_today"] for models in per_key if MODEL in models) == 2

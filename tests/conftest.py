"""Fixtures shared by the end-to-end tests: a simulator and a proxy, as real servers.

Session-scoped servers are shared by the tests of one xdist worker; tests that change key
state (cooldowns, disabled keys) start their own with ``start_proxy``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import (
    PROXY_PASSWORD,
    PROXY_USER,
    SIM_KEYS,
    ForwardProxy,
    ServerProcess,
    free_port,
    start_demo,
    start_proxy,
    start_simulator,
)


@pytest.fixture(scope="session")
def simulator() -> Iterator[ServerProcess]:
    server = start_simulator()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def proxy(simulator: ServerProcess) -> Iterator[ServerProcess]:
    server = start_proxy(simulator.url)
    yield server
    server.stop()


@pytest.fixture
def sim(simulator: ServerProcess) -> Iterator[ServerProcess]:
    """The shared simulator, reset before and after the test: faults, quotas, counters, and any
    setting the test changed through ``/_sim/config`` (delays, chunk counts)."""
    settings = httpx.get(simulator.url + "/_sim/config").json()
    httpx.post(simulator.url + "/_sim/reset").raise_for_status()
    yield simulator
    httpx.post(simulator.url + "/_sim/config", json=settings).raise_for_status()
    httpx.post(simulator.url + "/_sim/reset").raise_for_status()


@pytest.fixture
def keys() -> tuple[str, ...]:
    return SIM_KEYS


@pytest.fixture(scope="module")
def demo_port() -> Iterator[int]:
    """The port of a ``serve --demo`` started for the test module (the README's and docs' examples)."""
    port = free_port()
    process = start_demo(port)
    try:
        yield port
    finally:
        process.terminate()
        process.wait(15)


@pytest.fixture
def forward(tmp_path: Path) -> Iterator[ForwardProxy]:
    """A forward proxy (tinyproxy) that lets anyone through."""
    proxy = ForwardProxy(tmp_path)
    yield proxy
    proxy.stop()


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[ForwardProxy]:
    """A forward proxy that asks for ``PROXY_USER`` / ``PROXY_PASSWORD``."""
    proxy = ForwardProxy(tmp_path, auth=(PROXY_USER, PROXY_PASSWORD))
    yield proxy
    proxy.stop()


pytest_plugins = ["tests.inprocess"]

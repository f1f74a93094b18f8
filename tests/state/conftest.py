"""Fixtures for the state stores: temp SQLite files and a real redis-server on a free port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from gemini_proxy.state import open_store
from gemini_proxy.state.base import StateStore
from tests.servers import RedisServer


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    workdir = tmp_path / "redis"
    workdir.mkdir()
    server = RedisServer(workdir)
    yield server
    server.stop()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str | None, str | None]:
    """``(db_path, redis_url)`` of each kind of store, as ``open_store`` and ``open_job_store`` take
    them (``GEMINI_PROXY_DB``, ``GEMINI_PROXY_REDIS_URL``); "redis" starts a redis-server."""
    if request.param == "sqlite":
        return str(tmp_path / "state.db"), None
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        return None, server.url
    return None, None


@pytest.fixture
async def store(store_location: tuple[str | None, str | None]) -> AsyncIterator[StateStore]:
    s = await open_store(*store_location)
    yield s
    await s.close()

"""Fixtures for the state stores: temp SQLite files and a real redis-server on a free port."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from gemini_proxy.state import open_store
from gemini_proxy.state.base import StateStore
from tests.servers import free_port


class RedisServer:
    """``redis-server`` as a subprocess (no persistence) that tests can stop and restart."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail(
                "redis-server is not installed (apt-get install -y redis-server): the Redis store tests need a real "
                "server and must not be skipped",
                pytrace=False,
            )
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(self.workdir),
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        pytest.fail(f"redis-server did not start on port {self.port}", pytrace=False)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


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

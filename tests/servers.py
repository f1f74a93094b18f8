"""Real servers for tests: the proxy, the simulator and redis-server as child processes on free loopback ports."""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

SIM_KEYS = ("sim-key-1", "sim-key-2", "sim-key-3")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """A child process serving HTTP on 127.0.0.1:port; its output goes to a log file."""

    def __init__(self, args: Sequence[str], *, port: int, env: Mapping[str, str] | None = None,
                 cwd: str | None = None, ready_path: str = "/health") -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.args = list(args)
        self.env = {**_base_env(), **(env or {})}
        self.cwd = cwd
        self.ready_path = ready_path
        self.log_path = Path(tempfile.mkstemp(prefix="server-", suffix=".log")[1])
        self.process: subprocess.Popen[bytes] | None = None
        self._http: httpx.Client | None = None

    @property
    def http(self) -> httpx.Client:
        """A client to this server (``base_url`` set), as ``tests.inprocess`` servers have one."""
        if self._http is None:
            self._http = httpx.Client(base_url=self.url, timeout=30)
        return self._http

    def start(self, timeout: float = 20.0) -> ServerProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.args, env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.args} exited with {self.process.returncode}:\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + self.ready_path, timeout=0.5).status_code < 500:
                    return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.args} did not become ready in {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
        if self.process is not None:
            terminate(self.process, grace=10)


def terminate(process: subprocess.Popen[Any], *, grace: float = 5) -> None:
    """Stops ``process`` if it still runs: SIGTERM, then SIGKILL after ``grace`` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def required_binary(name: str, package: str, needed_by: str) -> str:
    """The path of ``name``; a test that needs it fails (never skips) when it is not installed."""
    binary = shutil.which(name)
    if binary is None:
        pytest.fail(
            f"{name} is not installed (apt-get install -y {package}): {needed_by} need a real one and must not be "
            "skipped",
            pytrace=False,
        )
    return binary


def wait_until(process: subprocess.Popen[Any], ready: Callable[[], bool], timeout: float = 10) -> bool:
    """Polls ``ready`` (an ``OSError`` counts as not yet) until it is true: False when ``process``
    exits first or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if ready():
                return True
        if process.poll() is not None:
            return False
        time.sleep(0.02)
    return False


def _die_with_parent() -> None:
    """A server outlives no test run, even one that is killed."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _base_env() -> dict[str, str]:
    # A clean environment: no GEMINI_PROXY_* leaking in from the developer's shell.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEMINI_PROXY_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "gemini_proxy.cli", *args]


def start_simulator(*extra: str, keys: Sequence[str] = SIM_KEYS) -> ServerProcess:
    port = free_port()
    args = cli("fake-upstream", "--host", "127.0.0.1", "--port", str(port), "--keys", ",".join(keys), *extra)
    return ServerProcess(args, port=port, ready_path="/_sim/stats").start()


def start_proxy(upstream: str, *, keys: Sequence[str] = SIM_KEYS, env: Mapping[str, str] | None = None,
                args: Sequence[str] = (), cwd: str | None = None) -> ServerProcess:
    port = free_port()
    proxy_env = {
        "GEMINI_PROXY_UPSTREAM_URL": upstream,
        "GEMINI_PROXY_KEYS": ",".join(keys),
        "GEMINI_PROXY_KEYS_FILE": "",
        "GEMINI_PROXY_DB": "",
        "GEMINI_PROXY_LOG_LEVEL": "info",
        **(env or {}),
    }
    command = cli("serve", "--port", str(port), *args)
    return ServerProcess(command, port=port, env=proxy_env, cwd=cwd or tempfile.mkdtemp(prefix="proxy-")).start()


def start_demo(port: int, *, capture_output: bool = False) -> subprocess.Popen[str]:
    """``gemini-proxy serve --demo`` on ``port`` (no GEMINI_PROXY_* settings inherited); returns once
    ``/health`` answers. With ``capture_output`` its stdout and stderr stay readable from ``.stdout``."""
    env = {**_base_env(), "GEMINI_PROXY_PORT": str(port)}
    output = subprocess.PIPE if capture_output else subprocess.DEVNULL
    process = subprocess.Popen(
        cli("serve", "--demo"), env=env, cwd=tempfile.mkdtemp(), stdout=output, stderr=subprocess.STDOUT, text=True,
        preexec_fn=_die_with_parent,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5).status_code == 200:
                return process
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("the demo did not start")


class RedisServer:
    """``redis-server`` as a subprocess (no persistence) that tests can stop and restart."""

    def __init__(self, workdir: Path) -> None:
        self.binary = required_binary("redis-server", "redis-server", "the Redis store tests")
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
        if wait_until(self.proc, self._pong):
            return
        self.stop()
        pytest.fail(f"redis-server did not start on port {self.port}", pytrace=False)

    def _pong(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            terminate(proc)


@contextlib.contextmanager
def replicas_on_redis(
    upstream: str, tmp_path: Path, env: Mapping[str, str] | None = None
) -> Iterator[tuple[RedisServer, ServerProcess, ServerProcess]]:
    """A redis-server (in ``tmp_path / "redis"``) and two proxies (with ``env`` too) that share it
    through ``GEMINI_PROXY_REDIS_URL``; all three are stopped on exit."""
    (tmp_path / "redis").mkdir()
    with contextlib.ExitStack() as stack:
        redis = RedisServer(tmp_path / "redis")
        stack.callback(redis.stop)
        both = {**(env or {}), "GEMINI_PROXY_REDIS_URL": redis.url}
        first = start_proxy(upstream, env=both)
        stack.callback(first.stop)
        second = start_proxy(upstream, env=both)
        stack.callback(second.stop)
        yield redis, first, second


def until(condition: Callable[[], object], timeout: float = 10.0) -> bool:
    """Whether ``condition()`` becomes true within ``timeout`` s (polled every 50 ms)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


PROXY_USER, PROXY_PASSWORD = "egress", "egress-pass-w0rd"  # the ``guarded`` fixture's credentials


class ForwardProxy:
    """Debian's ``tinyproxy``, an HTTP forward proxy, on a free loopback port: what users reach
    Google through. ``auth`` = (user, password) makes it ask for Basic credentials; ``log()`` is
    what it logged (one ``Request ...: CONNECT host:port`` line per tunnel)."""

    def __init__(self, workdir: Path, *, auth: tuple[str, str] | None = None) -> None:
        binary = required_binary("tinyproxy", "tinyproxy-bin", "the outbound proxy tests")
        self.port = free_port()
        self.auth = auth
        config = workdir / f"tinyproxy-{self.port}.conf"
        lines = [f"Port {self.port}", "Listen 127.0.0.1", "Timeout 60", "LogLevel Connect", "MaxClients 100"]
        if auth is not None:
            lines.append(f"BasicAuth {auth[0]} {auth[1]}")
        config.write_text("\n".join(lines) + "\n")
        self.log_path = workdir / f"tinyproxy-{self.port}.log"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen([binary, "-d", "-c", str(config)], stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        if wait_until(self.proc, self._accepts):
            return
        self.stop()
        pytest.fail(f"tinyproxy did not start on port {self.port}:\n{self.log()}", pytrace=False)

    def _accepts(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
            return True

    @property
    def url(self) -> str:
        """The proxy's URL, with its credentials when it asks for them."""
        userinfo = f"{self.auth[0]}:{self.auth[1]}@" if self.auth is not None else ""
        return f"http://{userinfo}127.0.0.1:{self.port}"

    def tunnels(self) -> list[str]:
        """The ``host:port`` of every CONNECT it was asked for, in order."""
        return [line.rsplit("CONNECT ", 1)[1].split()[0] for line in self.log().splitlines() if ": CONNECT " in line]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        terminate(self.proc)

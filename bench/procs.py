"""Child servers on loopback: spawn, wait until ready, and always stop them (with their children)."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import procstat

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent

_live: list[Server] = []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def http_status(port: int, path: str, timeout: float = 1.0) -> int | None:
    """Status of ``GET path`` on 127.0.0.1:port, or None when nothing answers."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    except OSError:
        return None
    finally:
        connection.close()


class Server:
    """A ``gemini_proxy.cli`` command (or another ``module``'s) serving HTTP on 127.0.0.1; its output goes to a
    log file."""

    def __init__(self, name: str, args: Sequence[str], *, port: int, ready_path: str,
                 env: Mapping[str, str] | None = None, module: str = "gemini_proxy.cli") -> None:
        self.name = name
        self.port = port
        self.url = f"http://{HOST}:{port}"
        self.ready_path = ready_path
        self.command = [sys.executable, "-m", module, *args]
        # Settings come only from ``env``: none inherited from the caller's GEMINI_PROXY_* environment.
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("GEMINI_PROXY_")}
        self.env = {**inherited, **(env or {})}
        self.log_path = Path(tempfile.mkstemp(prefix=f"bench-{name}-", suffix=".log")[1])
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_s = 0.0

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} is not running"
        return self.process.pid

    def start(self, timeout: float = 30.0) -> Server:
        """Spawns the server and returns once ``ready_path`` answers 200; ``startup_s`` is spawn to that answer."""
        with self.log_path.open("ab") as log:
            started = time.perf_counter()
            # A session of its own: a Ctrl-C in the terminal reaches only the harness, which then stops us.
            self.process = subprocess.Popen(
                self.command, env=self.env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        _live.append(self)
        deadline = started + timeout
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            if http_status(self.port, self.ready_path, timeout=0.5) == 200:
                self.startup_s = time.perf_counter() - started
                return self
            time.sleep(0.005)
        raise RuntimeError(f"{self.name} was not ready within {timeout} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        """SIGTERM to the whole tree, SIGKILL after 5 s; safe to call twice."""
        if self.process is None:
            return
        if self.process.poll() is None:
            pids = procstat.tree(self.process.pid)
            for pid in reversed(pids):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                pass
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(5)
        if self in _live:
            _live.remove(self)
        with contextlib.suppress(OSError):
            self.log_path.unlink()


def stop_all() -> None:
    for server in list(_live):
        server.stop()


def raise_on_sigterm() -> None:
    """SIGINT raises KeyboardInterrupt (even if inherited as ignored), SIGTERM/SIGHUP SystemExit: either way the
    ``finally`` blocks run and stop the children."""

    def handler(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)

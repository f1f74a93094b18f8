"""Running the simulator: blocking ``serve``, a background-thread server, and the CLI flags."""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import threading
from pathlib import Path
from typing import Any

import uvicorn

from gemini_proxy.simulator.app import create_app
from gemini_proxy.simulator.config import SimulatorConfig
from gemini_proxy.simulator.scenario import MAX_BYTES, Scenario
from gemini_proxy.simulator.scenario import load as load_scenario
from gemini_proxy.simulator.streaming import ConnectionCut


class _HideCuts(logging.Filter):
    """Deliberate connection cuts are not errors worth a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ConnectionCut)


def _uvicorn_config(config: SimulatorConfig, host: str, port: int, log_level: str, **extra: Any) -> uvicorn.Config:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _HideCuts) for f in logger.filters):
        logger.addFilter(_HideCuts())
    return uvicorn.Config(
        create_app(config), host=host, port=port, log_level=log_level, access_log=False, server_header=False,
        loop="uvloop", http="httptools", lifespan="on", **extra,
    )


def serve(config: SimulatorConfig, host: str = "127.0.0.1", port: int = 8081, log_level: str = "warning") -> None:
    """Serve the simulator until interrupted (uvicorn, uvloop + httptools)."""
    uvicorn.Server(_uvicorn_config(config, host, port, log_level)).run()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class BackgroundSimulator:
    """A real simulator server on a free loopback port in a daemon thread (for tests and tools).

    ``with BackgroundSimulator(SimulatorConfig()) as sim: httpx.get(sim.base_url + "/v1beta/models", ...)``
    """

    def __init__(self, config: SimulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config or SimulatorConfig()
        self.host = host
        self.port = port or free_port(host)
        self.server = uvicorn.Server(_uvicorn_config(self.config, host, self.port, "warning"))
        self._thread = threading.Thread(target=self._run, name=f"gemini-sim-{self.port}", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _run(self) -> None:
        asyncio.run(self.server.serve())

    def start(self) -> BackgroundSimulator:
        self._thread.start()
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError("simulator failed to start")
            self._thread.join(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(5)

    def __enter__(self) -> BackgroundSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- CLI ----------------------------------------------------------------------------------


def _error_rate(text: str) -> tuple[int, float]:
    status, _, rate = text.partition("=")
    return int(status), float(rate)


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``gemini-proxy fake-upstream``."""
    g = parser.add_argument_group("Gemini simulator")
    g.add_argument("--host", default="127.0.0.1")
    g.add_argument("--port", type=int, default=8081)
    g.add_argument("--keys", default=None, help="accepted keys: a,b or key:project,key2:project")
    g.add_argument("--keys-file", default=None, help="file with one key (or key:project) per line")
    g.add_argument("--invalid-keys", default="", help="keys always answered with 400 API_KEY_INVALID")
    g.add_argument("--rpm", type=int, default=None, help="requests per minute per (project, model)")
    g.add_argument("--rpd", type=int, default=None, help="requests per day per (project, model)")
    g.add_argument("--stream-chunks", type=int, default=3)
    g.add_argument("--first-byte-delay", type=float, default=0.0, help="seconds")
    g.add_argument("--chunk-delay", type=float, default=0.0, help="seconds")
    g.add_argument("--error-rate", action="append", type=_error_rate, default=[], metavar="STATUS=RATE",
                   help="random failures, e.g. 503=0.1 (repeatable)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--cache-min-tokens", type=int, default=0)
    g.add_argument("--log-level", default="warning")
    g.add_argument("--script", default=None, metavar="FILE",
                   help="scenario file (JSON): replies per turn, see docs/simulator.md")


def _parse_keys(items: list[str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for item in items:
        item = item.strip()
        if item and not item.startswith("#"):
            key, _, project = item.partition(":")
            out[key.strip()] = project.strip() or None
    return out


def config_from_args(ns: argparse.Namespace) -> SimulatorConfig:
    keys: dict[str, str | None] | None = None
    if ns.keys or ns.keys_file:
        keys = _parse_keys((ns.keys or "").split(","))
        if ns.keys_file:
            keys.update(_parse_keys(Path(ns.keys_file).read_text().splitlines()))
    return SimulatorConfig(
        keys=keys,
        invalid_keys={k for k in ns.invalid_keys.split(",") if k},
        rpm=ns.rpm,
        rpd=ns.rpd,
        stream_chunks=ns.stream_chunks,
        first_byte_delay=ns.first_byte_delay,
        chunk_delay=ns.chunk_delay,
        error_rates=dict(ns.error_rate),
        seed=ns.seed,
        cache_min_tokens=ns.cache_min_tokens,
        scenario=_load_script(ns.script),
    )


def _load_script(path: str | None) -> Scenario | None:
    if not path:
        return None
    try:
        if Path(path).stat().st_size > MAX_BYTES:
            raise ValueError(f"a scenario is at most {MAX_BYTES} bytes")
        return load_scenario(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"gemini-proxy fake-upstream: --script {path}: {exc}") from None

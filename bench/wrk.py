"""Non-streaming load with wrk: fixed duration, fixed connection count, one JSON summary from post.lua."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "post.lua"
MARKER = "BENCH_JSON "


class WrkMissing(RuntimeError):
    pass


def wrk_binary() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise WrkMissing(
            "wrk is not installed: the benchmark needs it as its load generator "
            "(Debian: apt-get update && apt-get install -y wrk)"
        )
    return path


def wrk_version() -> str:
    result = subprocess.run([wrk_binary(), "--version"], capture_output=True, text=True, check=False)
    words = (result.stdout or result.stderr).split()  # "wrk debian/4.1.0-3+b2 [epoll] Copyright ..."
    return " ".join(words[:2])


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    errors: int  # socket errors (connect, read, write) and timeouts
    non2xx: int  # responses with status >= 400 (wrk's "Non-2xx or 3xx responses")

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def run(url: str, body: bytes, headers: dict[str, str], *, connections: int, duration_s: float,
        threads: int = 1, timeout_s: float = 10.0) -> WrkResult:
    """Runs ``wrk`` against ``url`` (loopback only) and returns its summary.

    wrk takes whole seconds: ``duration_s`` is rounded up to at least 1.
    """
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"the benchmark only sends traffic to 127.0.0.1, not {url}")
    with tempfile.NamedTemporaryFile(prefix="bench-body-", suffix=".json") as body_file:
        body_file.write(body)
        body_file.flush()
        command = [
            wrk_binary(), f"-t{min(threads, connections)}", f"-c{connections}", f"-d{max(1, math.ceil(duration_s))}s",
            f"--timeout={timeout_s:g}s", "-s", str(SCRIPT),
        ]
        for name, value in headers.items():
            command += ["-H", f"{name}: {value}"]
        command += [url, "--", body_file.name]
        completed = subprocess.run(
            command, capture_output=True, text=True, check=False, timeout=duration_s + timeout_s + 30
        )
    return parse(completed.stdout, completed.stderr, completed.returncode)


def parse(stdout: str, stderr: str = "", returncode: int = 0) -> WrkResult:
    line = next((ln for ln in stdout.splitlines() if ln.startswith(MARKER)), None)
    if returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed (exit {returncode}):\n{stdout}\n{stderr}")
    raw = json.loads(line[len(MARKER) :])
    duration_s = raw["duration_us"] / 1e6
    return WrkResult(
        requests=raw["requests"],
        duration_s=round(duration_s, 3),
        rps=round(raw["requests"] / duration_s, 1) if duration_s else 0.0,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        mean_ms=round(raw["mean_us"] / 1000, 3),
        errors=raw["connect_errors"] + raw["read_errors"] + raw["write_errors"] + raw["timeouts"],
        non2xx=raw["status_errors"],
    )

"""The README's examples work as printed against `serve --demo` (only the port is changed)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import cli, free_port

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


@pytest.fixture(scope="module")
def demo_port() -> Iterator[int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEMINI_PROXY_")}
    env["GEMINI_PROXY_PORT"] = str(port)
    process = subprocess.Popen(
        cli("serve", "--demo"), env=env, cwd=tempfile.mkdtemp(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(15)


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, re.S)


@pytest.mark.parametrize("index", range(len(blocks("python"))))
def test_python_examples(demo_port: int, index: int) -> None:
    code = blocks("python")[index].replace("127.0.0.1:8080", f"127.0.0.1:{demo_port}")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Simulated reply" in result.stdout


def test_curl_example(demo_port: int) -> None:
    (curl,) = [b for b in blocks("bash") if b.lstrip().startswith("curl")]
    command = curl.replace("127.0.0.1:8080", f"127.0.0.1:{demo_port}").replace("\\\n", " ")
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and "Simulated reply to turn 1: Hello!" in result.stdout, (
        result.stdout + result.stderr
    )

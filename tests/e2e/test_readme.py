"""The README's examples work as printed against `serve --demo` (only the port is changed)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


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

"""The README's examples work as printed against `serve --demo` (only the port is changed)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, re.S)


@pytest.fixture(scope="module")
def samples_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Python of a new virtualenv set up by the README's install line for the samples, as printed
    (with the virtualenv's path changed): the test suite's own packages must not make them pass."""
    (line,) = [
        b.strip() for b in blocks("bash") if b.lstrip().startswith(".venv/bin/pip install") and "[clients]" in b
    ]
    command = line.split("#")[0].strip()
    venv = tmp_path_factory.mktemp("samples") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    install = command.replace(".venv/", f"{venv}/", 1)
    result = subprocess.run(["bash", "-c", install], cwd=ROOT, capture_output=True, text=True, timeout=540)
    assert result.returncode == 0, result.stderr[-3000:]
    return venv / "bin" / "python"


@pytest.mark.timeout(600)  # the first one builds the virtualenv
@pytest.mark.parametrize("index", range(len(blocks("python"))))
def test_python_examples(demo_port: int, samples_python: Path, index: int) -> None:
    code = blocks("python")[index].replace("127.0.0.1:8080", f"127.0.0.1:{demo_port}")
    result = subprocess.run([str(samples_python), "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Simulated reply" in result.stdout


def test_curl_example(demo_port: int) -> None:
    (curl,) = [b for b in blocks("bash") if b.lstrip().startswith("curl")]
    command = curl.replace("127.0.0.1:8080", f"127.0.0.1:{demo_port}").replace("\\\n", " ")
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and "Simulated reply to turn 1: Hello!" in result.stdout, (
        result.stdout + result.stderr
    )

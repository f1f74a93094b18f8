"""Gemini CLI itself (``@google/gemini-cli`` from tests/npm), headless, on the native surface of a
real proxy in front of the simulator: ``GOOGLE_GEMINI_BASE_URL`` points it at the proxy, a
settings file in a temporary HOME selects API-key auth and trusts the working folder."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.npm import tool
from tests.servers import ServerProcess, start_proxy

TOKEN = "gemini-cli-client-token"


@pytest.fixture(scope="module")
def proxy(simulator: ServerProcess) -> Iterator[ServerProcess]:
    server = start_proxy(simulator.url, env={"GEMINI_PROXY_ACCESS_LOG": "true", "GEMINI_PROXY_AUTH_TOKENS": TOKEN})
    yield server
    server.stop()


def gemini(proxy: ServerProcess, tmp_path: Path, prompt: str, *args: str) -> subprocess.CompletedProcess[str]:
    home, work = tmp_path / "home", tmp_path / "work"
    (home / ".gemini").mkdir(parents=True)
    work.mkdir()
    settings = {"security": {"auth": {"selectedType": "gemini-api-key"}}}
    (home / ".gemini" / "settings.json").write_text(json.dumps(settings))
    (home / ".gemini" / "trustedFolders.json").write_text(json.dumps({str(work): "TRUST_FOLDER"}))
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "GEMINI_API_KEY": TOKEN,
           "GOOGLE_GEMINI_BASE_URL": proxy.url}  # fmt: skip
    return subprocess.run(
        [str(tool("gemini")), "-p", prompt, "-m", "gemini-2.5-flash", *args], cwd=work, env=env,
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def native_posts(proxy: ServerProcess) -> int:
    return proxy.log().count('streamGenerateContent?alt=sse HTTP/1.1\\" 200')  # the ':' is logged as %3A


def test_gemini_cli_says_hello(proxy: ServerProcess, tmp_path: Path) -> None:
    before = native_posts(proxy)
    result = gemini(proxy, tmp_path, "Say hello")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Simulated reply to turn 1:" in result.stdout and result.stdout.rstrip().endswith("Say hello")
    assert native_posts(proxy) == before + 1
    assert TOKEN not in proxy.log()  # the client token went in x-goog-api-key, never in a logged URL


def test_gemini_cli_writes_the_file_it_is_told_to(proxy: ServerProcess, tmp_path: Path) -> None:
    target = tmp_path / "work" / "hello.txt"
    call = {"file_path": str(target), "content": "hi from the sim"}
    result = gemini(proxy, tmp_path, f"Create it. [[sim:call write_file {json.dumps(call)}]]", "--yolo")
    assert result.returncode == 0, result.stderr[-3000:]
    assert target.read_text() == "hi from the sim"
    # the tool's result went back, and the simulator's last answer reports it
    assert "function write_file returned" in result.stdout and "Successfully created" in result.stdout

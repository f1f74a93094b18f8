"""Codex CLI itself, headless (``codex exec``), on a real proxy in front of the simulator.

Codex speaks only the Responses API. It runs offline with nothing but a ``config.toml`` in a
temporary ``CODEX_HOME``: a custom model provider (``base_url`` at the proxy, ``wire_api =
"responses"``, ``env_key`` naming the variable that holds the client token) needs no login, and
``check_for_update_on_startup = false`` and ``[analytics] enabled = false`` keep it from calling
out. Every request it made is in the proxy's access log.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.npm import tool
from tests.servers import ServerProcess, start_proxy

TOKEN = "codex-client-token"


@pytest.fixture(scope="module")
def proxy(simulator: ServerProcess) -> Iterator[ServerProcess]:
    server = start_proxy(simulator.url, env={"GEMINI_PROXY_ACCESS_LOG": "true", "GEMINI_PROXY_AUTH_TOKENS": TOKEN})
    yield server
    server.stop()


def codex_config(proxy: ServerProcess, model: str) -> str:
    return f"""
model = "{model}"
model_provider = "gemini-proxy"
check_for_update_on_startup = false

[analytics]
enabled = false

[model_providers.gemini-proxy]
name = "gemini-proxy"
base_url = "{proxy.url}/v1"
wire_api = "responses"
env_key = "GEMINI_PROXY_TOKEN"
"""


def codex_exec(proxy: ServerProcess, tmp_path: Path, prompt: str, *args: str,
               model: str = "gemini-2.5-flash") -> subprocess.CompletedProcess[str]:  # fmt: skip
    home, work = tmp_path / "codex-home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    (home / "config.toml").write_text(codex_config(proxy, model))
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "CODEX_HOME": str(home), "GEMINI_PROXY_TOKEN": TOKEN}
    return subprocess.run(
        [str(tool("codex")), "exec", "--skip-git-repo-check", *args, prompt],
        cwd=work, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def responses_posts(proxy: ServerProcess) -> int:
    return proxy.log().count('"POST /v1/responses HTTP/1.1\\" 200')


def test_codex_exec_says_hello(proxy: ServerProcess, tmp_path: Path) -> None:
    before = responses_posts(proxy)
    result = codex_exec(proxy, tmp_path, "Say hello")
    assert result.returncode == 0, result.stderr
    # The simulator's deterministic reply (its system instruction is Codex's own prompt).
    assert "[system: You are a coding agent running in the Co] Simulated reply to turn 1:" in result.stdout
    assert result.stdout.rstrip().endswith("Say hello")
    assert responses_posts(proxy) == before + 1
    assert TOKEN not in proxy.log()


@pytest.mark.parametrize("model", ["gemini-2.5-flash", "gemini-3-flash-preview"])
def test_codex_runs_its_tool_and_sends_the_result_back(proxy: ServerProcess, tmp_path: Path, model: str) -> None:
    # The simulator calls a declared tool named in the user's text, with arguments made from its
    # schema; Codex runs exec_command, and its output goes back in a second request (stateless:
    # store false, the reasoning item's encrypted_content carrying Gemini 3's signatures).
    before = responses_posts(proxy)
    result = codex_exec(proxy, tmp_path, "Use exec_command to list the files",
                        "--dangerously-bypass-approvals-and-sandbox", model=model)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Simulated reply to turn 3: function exec_command returned" in result.stdout
    assert responses_posts(proxy) == before + 2


def test_codex_writes_a_file_on_the_simulators_instruction(proxy: ServerProcess, tmp_path: Path) -> None:
    prompt = 'Create the file. [[sim:call exec_command {"cmd": "echo hello from codex > hello.txt"}]]'
    result = codex_exec(proxy, tmp_path, prompt, "--dangerously-bypass-approvals-and-sandbox")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "work" / "hello.txt").read_text() == "hello from codex\n"

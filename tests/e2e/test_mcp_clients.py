"""docs/mcp.md's setup lines, run as printed with the real agent CLIs (Claude Code, Gemini CLI,
Codex CLI from tests/npm), against a proxy with a client token in front of the simulator."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.npm import NODE_MODULES, tool
from tests.servers import ServerProcess, start_proxy

DOC = Path(__file__).resolve().parents[2] / "docs" / "mcp.md"
TOKEN = "tok-mcp-clients-test"


def setup_line(cli: str) -> str:
    """The one ``sh`` line of docs/mcp.md that adds the proxy to ``cli``."""
    lines = [
        line
        for block in re.findall(r"```sh\n(.*?)```", DOC.read_text(), re.S)
        for line in block.splitlines()
        if line.startswith(cli + " mcp add ")
    ]
    assert len(lines) == 1, f"docs/mcp.md should show one `{cli} mcp add` line, found {lines}"
    return lines[0]


@pytest.fixture(scope="module")
def proxy(simulator: ServerProcess) -> Iterator[ServerProcess]:
    server = start_proxy(simulator.url, env={"GEMINI_PROXY_AUTH_TOKENS": TOKEN})
    yield server
    server.stop()


def run(line: str, proxy: ServerProcess, home: Path, token: str = TOKEN) -> subprocess.CompletedProcess[str]:
    """``line`` through a shell, as a user would paste it, in a fresh home, with the doc's port
    replaced by the test proxy's."""
    (home / ".codex").mkdir(exist_ok=True)
    (home / ".gemini").mkdir(exist_ok=True)
    # Gemini CLI disables MCP servers in folders the user has not trusted; the doc says so.
    (home / ".gemini" / "trustedFolders.json").write_text(json.dumps({str(home): "TRUST_FOLDER"}))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GEMINI_", "ANTHROPIC_", "OPENAI_", "CODEX_"))},
        "HOME": str(home),
        "CODEX_HOME": str(home / ".codex"),
        "PATH": f"{NODE_MODULES / '.bin'}:{os.environ['PATH']}",
        "PROXY_TOKEN": token,
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    line = line.replace("http://127.0.0.1:8080", proxy.url)
    return subprocess.run(["bash", "-c", line], env=env, cwd=home, capture_output=True, text=True, timeout=120)


def test_claude_code_connects_with_the_documented_line(proxy: ServerProcess, tmp_path: Path) -> None:
    tool("claude")
    added = run(setup_line("claude"), proxy, tmp_path)
    assert added.returncode == 0, added.stderr
    listed = run("claude mcp list", proxy, tmp_path)
    assert re.search(r"gemini-proxy: http://127\.0\.0\.1:\d+/mcp \(HTTP\) - ✔ Connected", listed.stdout), listed.stdout
    assert TOKEN not in listed.stdout + added.stdout  # Claude Code redacts the header; so must we


def test_claude_code_reports_a_wrong_token(proxy: ServerProcess, tmp_path: Path) -> None:
    run(setup_line("claude"), proxy, tmp_path, token="tok-wrong")
    listed = run("claude mcp list", proxy, tmp_path, token="tok-wrong")
    assert "Failed to connect" in listed.stdout and "401" in listed.stdout, listed.stdout
    assert "tok-wrong" not in listed.stdout  # the proxy's 401 does not echo the token


def test_gemini_cli_connects_with_the_documented_line(proxy: ServerProcess, tmp_path: Path) -> None:
    tool("gemini")
    added = run(setup_line("gemini"), proxy, tmp_path)
    assert added.returncode == 0, added.stderr
    listed = run("gemini mcp list", proxy, tmp_path)
    shown = listed.stdout + listed.stderr  # Gemini CLI writes the list to stderr
    assert re.search(r"✓ gemini-proxy: http://127\.0\.0\.1:\d+/mcp \(http\) - Connected", shown), shown


def test_gemini_cli_does_not_connect_with_a_wrong_token(proxy: ServerProcess, tmp_path: Path) -> None:
    run(setup_line("gemini"), proxy, tmp_path, token="tok-wrong")
    listed = run("gemini mcp list", proxy, tmp_path, token="tok-wrong")
    shown = listed.stdout + listed.stderr
    assert re.search(r"✗ gemini-proxy: http://127\.0\.0\.1:\d+/mcp \(http\) - Disconnected", shown), shown


def test_codex_records_the_documented_line(proxy: ServerProcess, tmp_path: Path) -> None:
    tool("codex")
    added = run(setup_line("codex"), proxy, tmp_path)
    assert added.returncode == 0, added.stderr
    config = (tmp_path / ".codex" / "config.toml").read_text()
    assert f'url = "{proxy.url}/mcp"' in config and 'bearer_token_env_var = "PROXY_TOKEN"' in config
    assert TOKEN not in config  # the token stays in the environment
    listed = run("codex mcp list", proxy, tmp_path)
    assert re.search(r"gemini-proxy\s+http://127\.0\.0\.1:\d+/mcp\s+PROXY_TOKEN\s+enabled", listed.stdout), (
        listed.stdout
    )

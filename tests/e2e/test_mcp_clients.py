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


def test_claude_code_delegates_to_a_gemini_agent_over_mcp(proxy: ServerProcess, tmp_path: Path) -> None:
    """The whole point of the MCP surface: Claude Code, on the same proxy, hands a task to a Gemini
    agent through the documented setup line, waits for it, and answers with the job's result."""
    assert run(setup_line("claude"), proxy, tmp_path).returncode == 0
    call = {"agent": "general", "task": "List three risks of the migration plan", "wait": 60}
    prompt = "Ask a Gemini agent. [[sim:call mcp__gemini-proxy__delegate " + json.dumps(call) + "]]"
    line = ("ENABLE_TOOL_SEARCH=false ANTHROPIC_BASE_URL=" + proxy.url + " ANTHROPIC_API_KEY=$PROXY_TOKEN IS_SANDBOX=1 "
            "claude -p " + json.dumps(prompt) + " --output-format json --dangerously-skip-permissions")  # fmt: skip
    done = run(line, proxy, tmp_path)
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-2000:])
    result = json.loads(done.stdout)
    assert result["is_error"] is False and result["num_turns"] == 2, result
    auth = {"authorization": f"Bearer {TOKEN}"}
    listed = proxy.http.get("/api/agents/status", params={"agent": "general"}, headers=auth).json()["jobs"]
    assert len(listed) == 1, (listed, result["result"][-1500:])
    job = proxy.http.get(listed[0]["status_url"], headers=auth).json()
    assert job["task"] == call["task"] and job["status"] == "succeeded"
    # the agent's answer came back to Claude Code as the tool's result, and into its final answer
    assert "function mcp__gemini-proxy__delegate returned" in result["result"]
    assert "List three risks of the migration plan" in result["result"]

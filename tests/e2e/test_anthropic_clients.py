"""Anthropic clients that run as programs, against a real proxy on loopback in front of the
simulator: the Anthropic TypeScript SDK under node, and Claude Code itself, headless."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.npm import NODE_MODULES, tool
from tests.servers import ServerProcess

HERE = Path(__file__).resolve().parent


def test_typescript_sdk_create_and_stream(proxy: ServerProcess) -> None:
    run = subprocess.run(
        ["node", str(HERE / "js" / "anthropic_sdk.mjs"), proxy.url],
        env={**os.environ, "NODE_MODULES": str(NODE_MODULES)}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    created = out["created"]
    assert created["id"].startswith("msg_") and created["model"] == "claude-haiku-4-5"
    assert created["content"] == [{"type": "text", "text": "Simulated reply to turn 1: Hello from node"}]
    assert len(out["deltas"]) > 1  # text events as the chunks arrive
    assert "".join(out["deltas"]) == "Simulated reply to turn 1: Stream from node please"
    assert out["final"]["content"][0]["text"] == "".join(out["deltas"]) and out["final"]["stop_reason"] == "end_turn"
    assert out["error"] == {"name": "NotFoundError", "status": 404, "type": "not_found_error"}


def claude(proxy: ServerProcess, prompt: str, workdir: Path, *extra: str, model: str | None = None) -> dict[str, Any]:
    """``claude -p PROMPT --output-format json`` with the proxy as its Anthropic API, HOME in
    ``workdir``; ``model``: ``ANTHROPIC_MODEL`` (else Claude Code asks for its Claude default)."""
    env = {
        **({"ANTHROPIC_MODEL": model} if model else {}),
        "PATH": os.environ["PATH"], "HOME": str(workdir), "ANTHROPIC_BASE_URL": proxy.url,
        "ANTHROPIC_API_KEY": "sk-test-not-a-real-key", "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "IS_SANDBOX": "1",  # IS_SANDBOX: root may skip permissions
    }  # fmt: skip
    run = subprocess.run(
        [str(tool("claude")), "-p", prompt, "--output-format", "json", *extra], env=env, cwd=workdir,
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert run.returncode == 0, (run.stdout[-2000:], run.stderr[-2000:], proxy.log()[-3000:])
    result: dict[str, Any] = json.loads(run.stdout)
    assert result["is_error"] is False and result["subtype"] == "success", result
    return result


@pytest.mark.parametrize("model", [None, "gemini-3-flash-preview"])
def test_claude_code_says_hello(proxy: ServerProcess, tmp_path: Path, model: str | None) -> None:
    result = claude(proxy, "Say hello", tmp_path, model=model)
    # The simulator answers the last user turn; Claude Code puts its reminders before the prompt.
    assert "Simulated reply to turn 1:" in result["result"] and result["result"].endswith("Say hello")
    assert result["num_turns"] == 1
    assert result["usage"]["input_tokens"] > 1000  # Claude Code's system prompt and tools reached Gemini
    if model:
        assert list(result["modelUsage"]) == [model]


@pytest.mark.parametrize("model", [None, "gemini-3-flash-preview"])
def test_claude_code_writes_a_file(proxy: ServerProcess, tmp_path: Path, model: str | None) -> None:
    """The simulator calls a declared tool named as a word in the user text, with arguments sampled
    from its schema (docs/simulator.md): Write gets ``file_path: "file_path value"``, ``content:
    "content value"``; Claude Code writes that file relative to its working directory and sends the
    result back, and the simulator's last answer reports it."""
    result = claude(proxy, "Use the Write tool to save a note", tmp_path, "--dangerously-skip-permissions", model=model)
    assert (tmp_path / "file_path value").read_text() == "content value"
    assert result["num_turns"] == 2
    assert "function Write returned" in result["result"] and "File created successfully" in result["result"]


def test_claude_code_writes_the_file_it_is_told_to(proxy: ServerProcess, tmp_path: Path) -> None:
    target = tmp_path / "hello.txt"
    directive = "[[sim:call Write " + json.dumps({"file_path": str(target), "content": "hi"}) + "]]"
    result = claude(proxy, f"Write the greeting. {directive}", tmp_path, "--dangerously-skip-permissions")
    assert target.read_text() == "hi"
    assert "function Write returned" in result["result"]

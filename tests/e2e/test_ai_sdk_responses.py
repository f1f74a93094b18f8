"""The Vercel AI SDK under node: ``openai("model")`` of ``@ai-sdk/openai`` calls the Responses API.

``tests/npm/ai_sdk_responses.mjs`` runs ``generateText`` and ``streamText`` against a real proxy
(loopback: node is another process) in front of the simulator.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from tests.npm import NODE_MODULES
from tests.servers import ServerProcess, start_proxy

SCRIPT = NODE_MODULES.parent / "ai_sdk_responses.mjs"
TOKEN = "ai-sdk-token"


@pytest.fixture(scope="module")
def proxy(simulator: ServerProcess) -> Iterator[ServerProcess]:
    server = start_proxy(simulator.url, env={"GEMINI_PROXY_ACCESS_LOG": "true", "GEMINI_PROXY_AUTH_TOKENS": TOKEN})
    yield server
    server.stop()


@pytest.mark.parametrize("model", ["gemini-2.5-flash", "gemini-3-flash-preview"])
def test_generate_text_and_stream_text(proxy: ServerProcess, model: str) -> None:
    if not (NODE_MODULES / "@ai-sdk" / "openai").exists():
        raise RuntimeError("@ai-sdk/openai is not installed: run `(cd tests/npm && npm ci)` or ./scripts/test.sh")
    result = subprocess.run(
        ["node", str(SCRIPT), proxy.url + "/v1", TOKEN, model],
        capture_output=True, text=True, timeout=60, cwd=SCRIPT.parent,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    generated, streamed = got["generated"], got["streamed"]
    assert generated["text"] == "Simulated reply to turn 1: Hello from generateText"
    assert generated["responseId"].startswith("resp_")
    assert generated["finishReason"] == "stop"
    assert generated["usage"]["inputTokens"] > 0 and generated["usage"]["outputTokens"] > 0
    assert streamed["text"] == "".join(streamed["deltas"]) == "Simulated reply to turn 1: Hello from streamText"
    assert streamed["finishReason"] == "stop" and streamed["usage"]["outputTokens"] > 0
    # Both went to the Responses route, not Chat Completions.
    log = proxy.log()
    assert log.count('"POST /v1/responses HTTP/1.1\\" 200') >= 2 and "/v1/chat/completions" not in log

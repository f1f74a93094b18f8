"""docs/agents.md's curl examples work as printed against `serve --demo` (only the port is changed)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

DOC = (Path(__file__).resolve().parents[2] / "docs" / "agents.md").read_text()
BLOCKS = re.findall(r"```bash\n(.*?)```", DOC, re.S)


def documents(output: str) -> list[dict]:
    """The JSON answers printed one after another."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while at < len(output):
        if output[at].isspace():
            at += 1
            continue
        value, at = decoder.raw_decode(output, at)
        found.append(value)
    return found


def test_the_doc_has_its_examples() -> None:
    assert len(BLOCKS) == 6


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_curl_examples(demo_port: int, index: int) -> None:
    block = BLOCKS[index]
    assert "127.0.0.1:8080" in block
    result = subprocess.run(
        ["bash", "-c", "set -e -o pipefail\n" + block.replace("127.0.0.1:8080", f"127.0.0.1:{demo_port}")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    answers = documents(result.stdout)
    assert answers, result.stdout
    if "/cancel/" in block:
        (answer,) = answers
        assert answer.get("status") == "cancelled" or answer["error"]["code"] == "job_finished", answer
        return
    for answer in answers:
        assert "error" not in answer or answer["error"] is None, answer
    if "/api/agents/delegate" in block or "/status/" in block:
        assert all(a["status"] in ("queued", "running", "succeeded") for a in answers), answers
    if "wait" in block or "sleep" in block:
        assert answers[-1]["status"] == "succeeded" and answers[-1]["result"]["text"], answers
    if "Idempotency-Key" in block:
        assert len(answers) == 2 and answers[0]["id"] == answers[1]["id"]

"""instructor's OpenAI modes on ``serve --demo`` return the pydantic model (#17): JSON
(``json_object`` with the schema in the prompt), JSON_SCHEMA (``response_format`` json_schema) and
TOOLS (a forced function call). instructor cannot share the test environment's openai SDK (it pins
an older jiter), so it runs in ``.venv-instructor``, made by scripts/test.sh."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv-instructor" / "bin" / "python"
MODES = ["JSON", "JSON_SCHEMA", "TOOLS"]


def test_instructor_modes_return_the_model(demo_port: int) -> None:
    if not PYTHON.exists():
        pytest.fail(f"{PYTHON} is missing: scripts/test.sh makes it (tests/instructor_env/requirements.lock)")
    run = subprocess.run([str(PYTHON), str(ROOT / "tests" / "instructor_env" / "run.py"),
                          f"http://127.0.0.1:{demo_port}", *MODES],
                         capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert [line["mode"] for line in lines] == MODES
    for line in lines:
        assert "error" not in line, line
        person = line["person"]  # validated by instructor against Person: age >= 18, role in the enum
        assert person["age"] >= 18 and person["role"] in ("admin", "user") and person["name"]
        assert line["total_tokens"] > 0  # from Gemini's usageMetadata

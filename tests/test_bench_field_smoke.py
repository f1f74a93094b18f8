"""Smoke test of ``bench/field.py`` (the field's metrics): a tiny run yields every figure, sanely.

It checks the harness (pinning, the paced upstream and stream client, the frontier), not the
figures a full run on a quiet machine reports. Deselect with ``-m "not bench"``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.bench, pytest.mark.timeout(120)]


def test_quick_field_run_reports_every_figure(tmp_path: Path) -> None:
    command = [sys.executable, str(ROOT / "bench" / "field.py"), "--quick", "--targets", "proxy-openai",
               "--ladder", "1,4", "--streams", "8", "--out", str(tmp_path)]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=110, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads((tmp_path / "field.json").read_text())
    rows = {row["target"]: row for row in results["summary"]}
    assert set(rows) == {"direct", "proxy-openai"}
    proxy = rows["proxy-openai"]
    assert proxy["added_p50_us"] > 0 and len(proxy["added_p99_rounds_us"]) == 1
    assert proxy["cpu_ms_per_request"] > 0 and rows["direct"]["cpu_ms_per_request"] == 0
    assert set(proxy["rps_at_p99_ms"]) == {"1", "5", "10", "20"}
    assert [step["concurrency"] for step in results["frontier"]["proxy-openai"]] == [1, 4]
    for name in rows:  # 8 paced streams of 64 frames each, every one complete and on time
        (level,) = results["paced"][name]
        assert level["on_time"] == 8 and level["errors"] == 0, level
        assert level["frames_min"] >= 64
        assert 15 <= level["gap_p50_ms"] <= 40  # the 20 ms pace, as the client saw it
    assert rows["direct"]["streams_sustained"] == 8
    assert 0 < results["rss_mb"]["idle"] <= results["rss_mb"]["steady"] + 5
    assert "streams sustained" in (tmp_path / "field.md").read_text()

"""Smoke test of the benchmark harness: a tiny ``bench/run.py --quick`` run yields every figure, sanely.

It checks that the harness works, not that the budget is met (that is what a full run reports).
Deselect with ``-m "not bench"``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"direct", "proxy-native", "proxy-openai", "proxy-anthropic", "proxy-responses", "reference"}
CONCURRENCY = (1, 10)

pytestmark = [pytest.mark.bench, pytest.mark.timeout(90)]


def test_quick_bench_run_reports_every_figure(tmp_path: Path) -> None:
    """One test, not several sharing a fixture: under xdist that fixture would run (and load the cores) per worker."""
    results = run_bench(tmp_path)
    check_load_phases(results)
    check_stream_phases(results)
    check_proxy_process(results)
    check_comparisons_and_budget(results)


def run_bench(out: Path) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        pytest.fail("wrk is not installed: the benchmark's load generator is Debian's wrk "
                    "(apt-get install -y wrk; scripts/test.sh must install it)")
    command = [
        sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--duration", "1",
        "--concurrency", ",".join(map(str, CONCURRENCY)), "--stream-requests", "20", "--out", str(out),
    ]
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=80, check=False)
    assert completed.returncode == 0, f"bench/run.py exited {completed.returncode}:\n{completed.stderr[-4000:]}"
    assert "## Budget" in (out / "latest.md").read_text()
    assert "## Budget" in completed.stdout
    data: dict[str, Any] = json.loads((out / "latest.json").read_text())
    return data


def check_load_phases(results: dict[str, Any]) -> None:
    rows = {(r["target"], r["concurrency"]): r for r in results["load"]}
    assert set(rows) == {(t, c) for t in TARGETS for c in CONCURRENCY}
    for (target, concurrency), row in rows.items():
        where = f"{target} c={concurrency}"
        assert row["requests"] > 0 and row["rps"] > 0, where
        assert 0 < row["p50_ms"] <= row["p99_ms"] < 10_000, where
        assert row["errors"] == 0 and row["non2xx"] == 0, where
        cpu = row["cpu_ms_per_request"]
        assert cpu["simulator"] > 0, where
        if target != "direct":
            assert 0 < cpu["proxy"] <= cpu["proxy_tree"] < 100, where


def check_stream_phases(results: dict[str, Any]) -> None:
    rows = {r["target"]: r for r in results["stream"]}
    assert set(rows) == TARGETS
    for target, row in rows.items():
        assert row["requests"] > 0 and row["errors"] == 0, target
        assert 0 < row["ttfb_p50_ms"] <= row["total_p50_ms"], target
        assert row["ttfb_p99_ms"] >= row["ttfb_p50_ms"] and row["total_p99_ms"] >= row["total_p50_ms"], target
    assert rows["direct"]["events_per_stream"] == rows["proxy-native"]["events_per_stream"] == 20
    assert rows["reference"]["events_per_stream"] == 20
    for target in ("proxy-openai", "proxy-anthropic", "proxy-responses"):
        assert rows[target]["events_per_stream"] >= 20, target


def check_proxy_process(results: dict[str, Any]) -> None:
    assert 1 < results["rss_mb"]["proxy_tree"] < 2000
    assert len(results["startup_s"]["runs"]) == 3
    assert 0 < results["startup_s"]["best"] == min(results["startup_s"]["runs"])
    machine = results["machine"]
    assert machine["cores"] >= 1 and machine["wrk"].startswith("wrk")
    assert all(version != "absent" for version in machine["packages"].values())


def check_comparisons_and_budget(results: dict[str, Any]) -> None:
    nonstream = {(c["target"], c["concurrency"]) for c in results["comparisons"]["nonstream"]}
    assert nonstream == {(t, c) for t in TARGETS - {"direct"} for c in CONCURRENCY}
    assert {c["target"] for c in results["comparisons"]["stream"]} == TARGETS - {"direct"}
    assert len(results["budget"]) == 3 * 4 + 2  # CPU, added p50, added TTFB per surface; RSS; start-up
    for row in results["budget"]:
        assert row["value"] is not None and row["margin"] is not None, row["what"]
        assert row["pass"] == (row["value"] <= row["limit"]), row["what"]
    assert results["problems"] == []

"""The faulted-keys soak: what keys that always fail cost the requests that meet them.

Eight fake keys, two of which the simulator fails on every call (one with 503, one with 500),
under ``wrk`` at concurrency 64 through the proxy's native surface. It reports the proxy's
throughput, p50/p99, the answers that were not 2xx, and the upstream calls per answered request
(every call past one is wasted on a failing key). ``--compare DIR`` runs the same soak first on
another checkout's ``src/`` (for example the commit before a change, made with ``git worktree
add``), so that both figures come from one run on one machine.

    .venv/bin/python bench/soak.py                       # ~25 s
    .venv/bin/python bench/soak.py --compare /tmp/before # the same soak on /tmp/before/src first
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import procs
import wrk

KEYS = tuple(f"soak-key-{i}" for i in range(1, 9))  # fake keys, accepted only by the simulator
FAULTS = {"soak-key-3": 503, "soak-key-6": 500}
BODY = json.dumps({"contents": [{"role": "user", "parts": [{"text": "soak"}]}]}).encode()
PATH = "/v1beta/models/gemini-2.5-flash:generateContent"
FOREVER = 10**9


def _post(url: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        answer.read()


def _stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "/_sim/stats", timeout=5) as answer:
        return json.loads(answer.read())  # type: ignore[no-any-return]


def soak(label: str, src: Path | None, *, duration: int, connections: int) -> dict[str, Any]:
    port = procs.free_port()
    simulator = procs.Server("simulator", ["fake-upstream", "--host", procs.HOST, "--port", str(port),
                                           "--keys", ",".join(KEYS)], port=port, ready_path="/_sim/stats").start()
    try:
        for key, status in FAULTS.items():
            _post(simulator.url + "/_sim/fail-next", {"status": status, "key": key, "count": FOREVER})
        env = {"GEMINI_PROXY_UPSTREAM_URL": simulator.url, "GEMINI_PROXY_KEYS": ",".join(KEYS),
               "GEMINI_PROXY_KEYS_FILE": "", "GEMINI_PROXY_DB": "", "GEMINI_PROXY_LOG_LEVEL": "error",
               "GEMINI_PROXY_WORKERS": "1", "GEMINI_PROXY_HOST": procs.HOST}
        if src is not None:
            env["PYTHONPATH"] = str(src)
        proxy_port = procs.free_port()
        proxy = procs.Server("proxy", ["serve", "--port", str(proxy_port)], port=proxy_port, ready_path="/health",
                             env=env).start()
        try:
            before = _stats(simulator.url)["total"]
            started = time.perf_counter()
            result = wrk.run(proxy.url + PATH, BODY, {}, connections=connections, duration_s=duration)
            elapsed = time.perf_counter() - started
            stats = _stats(simulator.url)
        finally:
            proxy.stop()
    finally:
        simulator.stop()
    calls = stats["total"] - before
    answered = max(1, result.requests - result.non2xx)
    failing = sum(stats["by_key"].get(key, 0) for key in FAULTS)
    return {
        "label": label, "requests": result.requests, "rps": round(result.rps, 1), "p50_ms": result.p50_ms,
        "p99_ms": result.p99_ms, "non2xx": result.non2xx, "errors": result.errors, "upstream_calls": calls,
        "calls_to_failing_keys": failing, "calls_per_answer": round(calls / answered, 3),
        "seconds": round(elapsed, 1),
    }


def report(rows: list[dict[str, Any]], connections: int) -> str:
    lines = [f"Faulted-keys soak: 8 keys, {', '.join(f'{k} always {s}' for k, s in FAULTS.items())}, "
             f"wrk c={connections}, native generateContent.", "",
             "| run | requests | req/s | p50 ms | p99 ms | non-2xx | upstream calls | to failing keys "
             "| calls per answer |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['label']} | {r['requests']} | {r['rps']} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
                     f"{r['non2xx']} | {r['upstream_calls']} | {r['calls_to_failing_keys']} "
                     f"| {r['calls_per_answer']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=20, help="seconds of load per run (default 20)")
    parser.add_argument("--concurrency", type=int, default=64, help="wrk connections (default 64)")
    parser.add_argument("--compare", type=Path, help="another checkout whose src/ runs the same soak first")
    args = parser.parse_args(argv)
    procs.raise_on_sigterm()
    rows = []
    try:
        if args.compare is not None:
            rows.append(soak(f"{args.compare.name} (compared)", args.compare / "src", duration=args.duration,
                             connections=args.concurrency))
        rows.append(soak("this tree", None, duration=args.duration, connections=args.concurrency))
    finally:
        procs.stop_all()
    print(report(rows, args.concurrency))
    return 0 if all(r["errors"] == 0 for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())

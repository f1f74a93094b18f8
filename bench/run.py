"""Benchmark: direct to the simulator vs through the proxy (native and OpenAI), in one run on 127.0.0.1.

Usage: .venv/bin/python bench/run.py [--duration 5] [--quick] [--concurrency 1,10,64]
Writes bench/results/latest.md and latest.json and prints the Markdown report.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import importlib.metadata
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import procs
import procstat
import report
import stream_probe
import wrk

KEYS = ("bench-key-1", "bench-key-2", "bench-key-3")  # fake keys, accepted only by the simulator
MODEL = "gemini-2.5-flash"
# The simulator echoes the prompt, one word or more per chunk: 30 words make room for 20 chunks.
PROMPT = ("Write a short paragraph on why a benchmark of a proxy must compare it with a direct call "
          "on the same machine, in the same run, under the same load.")
RESULTS = Path(__file__).resolve().parent / "results"
# The proxy runs with named clients, every one with limits (limits that the bench never reaches):
# the budget holds for a gateway set up as a team would set it up. Requests are the first client's.
CLIENTS = 12
CLIENT_TOKEN = "bench-client-01-token"
CLIENT = {"authorization": f"Bearer {CLIENT_TOKEN}"}


@dataclass(frozen=True)
class Target:
    name: str
    server: str  # "simulator" or "proxy"
    path: str
    stream_path: str
    body: dict[str, Any]
    stream_body: dict[str, Any]
    headers: dict[str, str]


GEMINI_BODY = {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]}
OPENAI_BODY = {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}]}
ANTHROPIC_BODY = {"model": MODEL, "max_tokens": 1024, "messages": [{"role": "user", "content": PROMPT}]}
# store false, as Codex sends it: the row measures the translation, not the response store.
RESPONSES_BODY = {"model": MODEL, "input": PROMPT, "store": False}
NATIVE = f"/v1beta/models/{MODEL}:generateContent"
NATIVE_STREAM = f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
TARGETS = (
    Target("direct", "simulator", NATIVE, NATIVE_STREAM, GEMINI_BODY, GEMINI_BODY, {"x-goog-api-key": KEYS[0]}),
    Target("proxy-native", "proxy", NATIVE, NATIVE_STREAM, GEMINI_BODY, GEMINI_BODY, CLIENT),
    Target("proxy-openai", "proxy", "/v1/chat/completions", "/v1/chat/completions", OPENAI_BODY,
           {**OPENAI_BODY, "stream": True}, CLIENT),
    Target("proxy-anthropic", "proxy", "/v1/messages", "/v1/messages", ANTHROPIC_BODY,
           {**ANTHROPIC_BODY, "stream": True}, {**CLIENT, "anthropic-version": "2023-06-01"}),
    Target("proxy-responses", "proxy", "/v1/responses", "/v1/responses", RESPONSES_BODY,
           {**RESPONSES_BODY, "stream": True}, CLIENT),
    # Not the proxy: the bare passthrough of bench/reference.py, the floor on this machine in this run.
    Target("reference", "reference", NATIVE, NATIVE_STREAM, GEMINI_BODY, GEMINI_BODY, {}),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, help="whole seconds per load phase (default 5; --quick: 2)")
    parser.add_argument("--quick", action="store_true", help="smoke run: short phases, fewer streams")
    parser.add_argument("--concurrency", default="1,10,64", help="wrk connection counts (default 1,10,64)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run the non-streaming matrix N times, keep the least disturbed round of each phase")
    parser.add_argument("--stream-requests", type=int, help="sequential streams per target (default 200; quick 30)")
    parser.add_argument("--stream-rounds", type=int, default=5, help="interleaved rounds of streams (default 5)")
    parser.add_argument("--stream-chunks", type=int, default=20, help="chunks per simulated stream (default 20)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1: leave cores to the servers)")
    parser.add_argument("--startups", type=int, default=3, help="proxy starts timed, best one kept (default 3)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for latest.md and latest.json")
    args = parser.parse_args(argv)
    args.duration = args.duration or (2.0 if args.quick else 5.0)
    args.stream_requests = args.stream_requests or (30 if args.quick else 200)
    args.warmup = 1.0  # wrk's shortest phase
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c.strip()]
    return args


def machine_facts() -> dict[str, Any]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    packages = {}
    for name in ("uvicorn", "starlette", "aiohttp", "orjson", "uvloop", "httptools"):
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            packages[name] = "absent"
    return {"cores": os.cpu_count(), "cpu_model": model, "kernel": platform.release(),
            "python": platform.python_version(),
            "loadavg": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
            "packages": packages, "wrk": wrk.wrk_version()}


def start_simulator(stream_chunks: int) -> procs.Server:
    port = procs.free_port()
    args = ["fake-upstream", "--host", procs.HOST, "--port", str(port), "--keys", ",".join(KEYS),
            "--stream-chunks", str(stream_chunks)]
    return procs.Server("simulator", args, port=port, ready_path="/_sim/stats").start()


@functools.cache
def clients_file() -> Path:
    """A clients file of ``CLIENTS`` clients, each with every per-request limit set far above the load."""
    limits = {"rpm": 10**7, "tpm": 10**10, "tokens_per_day": 10**13, "max_concurrency": 10**4}
    clients = [{"name": f"client-{n:02d}", "token": f"bench-client-{n:02d}-token", **limits}
               for n in range(1, CLIENTS + 1)]
    path = Path(tempfile.mkdtemp(prefix="bench-clients-")) / "clients.json"
    path.write_text(json.dumps({"clients": clients}), encoding="utf-8")
    return path


def proxy_server(upstream: str) -> procs.Server:
    port = procs.free_port()
    env = {"GEMINI_PROXY_UPSTREAM_URL": upstream, "GEMINI_PROXY_KEYS": ",".join(KEYS), "GEMINI_PROXY_KEYS_FILE": "",
           "GEMINI_PROXY_DB": "", "GEMINI_PROXY_LOG_LEVEL": "warning", "GEMINI_PROXY_WORKERS": "1",
           "GEMINI_PROXY_HOST": procs.HOST, "GEMINI_PROXY_CLIENTS_FILE": str(clients_file())}
    return procs.Server("proxy", ["serve", "--port", str(port)], port=port, ready_path="/health", env=env)


def start_reference(upstream: str) -> procs.Server:
    port = procs.free_port()
    args = ["uvicorn", "--app-dir", str(Path(__file__).resolve().parent), "reference:app", "--host", procs.HOST,
            "--port", str(port), "--loop", "uvloop", "--http", "httptools", "--log-level", "warning",
            "--no-access-log", "--no-server-header"]
    return procs.Server("reference", args[1:], port=port, ready_path="/health", module="uvicorn",
                        env={"UPSTREAM": upstream, "KEY": KEYS[0]}).start()


def measured(servers: dict[str, procs.Server], target: Target) -> int:
    """The pid whose CPU is the "proxy CPU" of a target's phases: the reference's for its own."""
    return servers["reference" if target.server == "reference" else "proxy"].pid


def start_proxy(upstream: str, tries: int) -> tuple[procs.Server, list[float]]:
    """Starts the proxy ``tries`` times (stopping all but the last) and returns it with every start-up time."""
    times = []
    for attempt in range(tries):
        proxy = proxy_server(upstream).start()
        times.append(round(proxy.startup_s, 4))
        if attempt < tries - 1:
            proxy.stop()
    return proxy, times


def load_phases(args: argparse.Namespace, servers: dict[str, procs.Server]) -> list[dict[str, Any]]:
    """Every target at one concurrency level before the next level; with ``--repeat N`` the whole matrix N times,
    keeping for each (level, target) the round least disturbed by outside load."""
    for target in TARGETS:  # warm-up: imports, connection pools, caches
        url = servers[target.server].url + target.path
        wrk.run(url, orjson.dumps(target.body), target.headers, connections=10, duration_s=args.warmup)
    rounds: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for _ in range(args.repeat):
        for concurrency in args.concurrency:
            for target in TARGETS:
                rounds.setdefault((concurrency, target.name), []).append(load_phase(args, servers, target, concurrency))
    rows = []
    for candidates in rounds.values():
        best = min(candidates, key=lambda row: (row["cpu_s"]["others"] / max(row["cpu_s"]["wall"], 1e-9), -row["rps"]))
        rows.append({**best, "rounds": len(candidates),
                     "errors_all_rounds": sum(row["errors"] + row["non2xx"] for row in candidates)})
    return rows


def load_phase(args: argparse.Namespace, servers: dict[str, procs.Server], target: Target,
               concurrency: int) -> dict[str, Any]:
    url = servers[target.server].url + target.path
    before = procstat.CpuSnapshot.take(measured(servers, target), servers["simulator"].pid)
    result = wrk.run(url, orjson.dumps(target.body), target.headers, connections=concurrency,
                     duration_s=args.duration, threads=args.threads)
    after = procstat.CpuSnapshot.take(measured(servers, target), servers["simulator"].pid)
    log(f"c={concurrency:<3} {target.name:<13} {result.rps:9.0f} req/s  p50 {result.p50_ms:.3f} ms  "
        f"p99 {result.p99_ms:.3f} ms  errors {result.errors}/{result.non2xx}")
    return {"target": target.name, "concurrency": concurrency, **result.as_dict(),
            "cpu_ms_per_request": before.per_request_ms(after, result.requests), "cpu_s": before.seconds_until(after)}


def stream_phases(args: argparse.Namespace, servers: dict[str, procs.Server]) -> list[dict[str, Any]]:
    """Interleaved rounds (a block of streams per target in turn), so that any outside noise hits all alike."""
    rounds = max(1, min(args.stream_rounds, args.stream_requests))
    samples = {t.name: stream_probe.Samples() for t in TARGETS}
    cpu: dict[str, dict[str, float]] = {t.name: {} for t in TARGETS}
    for round_index in range(rounds):
        for target in TARGETS:
            block = args.stream_requests // rounds + (round_index < args.stream_requests % rounds)
            url = servers[target.server].url + target.stream_path
            before = procstat.CpuSnapshot.take(measured(servers, target), servers["simulator"].pid)
            samples[target.name].add(stream_probe.run(url, orjson.dumps(target.stream_body), target.headers,
                                                      requests=block, max_seconds=args.duration * 3 / rounds))
            after = procstat.CpuSnapshot.take(measured(servers, target), servers["simulator"].pid)
            for name, seconds in before.seconds_until(after).items():
                cpu[target.name][name] = cpu[target.name].get(name, 0.0) + seconds
    rows = []
    for target in TARGETS:
        result = samples[target.name].summary()
        count = max(result.requests, 1)
        rows.append({"target": target.name, **result.as_dict(), "rounds": rounds,
                     "cpu_ms_per_request": {k: round(v * 1000 / count, 4) for k, v in cpu[target.name].items()},
                     "cpu_s": {k: round(v, 3) for k, v in cpu[target.name].items()}})
        log(f"stream {target.name:<13} TTFB p50 {result.ttfb_p50_ms:.3f} ms  total p50 {result.total_p50_ms:.3f} ms"
            f"  events {result.events_per_stream}  errors {result.errors}")
    return rows


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        machine = machine_facts()
    except wrk.WrkMissing as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    procs.raise_on_sigterm()
    try:
        simulator = start_simulator(args.stream_chunks)
        log(f"simulator ready at {simulator.url} in {simulator.startup_s:.2f} s")
        proxy, startups = start_proxy(simulator.url, args.startups)
        log(f"proxy ready at {proxy.url}; start-up times {startups} s")
        reference = start_reference(simulator.url)
        servers = {"simulator": simulator, "proxy": proxy, "reference": reference}
        load = load_phases(args, servers)
        stream = stream_phases(args, servers)
        rss = {"proxy_tree": procstat.tree_rss_bytes(proxy.pid) / 2**20,
               "proxy_processes": len(procstat.tree(proxy.pid)),
               "simulator": procstat.tree_rss_bytes(simulator.pid) / 2**20}
    finally:
        procs.stop_all()
    results: dict[str, Any] = {
        "generated_at": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine,
        "settings": {"duration_s": args.duration, "warmup_s": args.warmup, "concurrency": args.concurrency,
                     "stream_requests": args.stream_requests, "stream_rounds": args.stream_rounds,
                     "stream_chunks": args.stream_chunks,
                     "threads": args.threads, "repeat": args.repeat, "quick": args.quick},
        "startup_s": {"best": min(startups), "runs": startups},
        "rss_mb": {k: round(v, 2) if isinstance(v, float) else v for k, v in rss.items()},
        "load": load,
        "stream": stream,
    }
    results["comparisons"] = report.comparisons(results)
    results["budget"] = report.budget(results)
    results["budget_met"] = all(b["pass"] for b in results["budget"])
    results["problems"] = report.problems(results)
    results["noise"] = report.noise(results)
    text = report.markdown(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.md").write_text(text)
    (args.out / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    print(text)
    log(f"wrote {args.out / 'latest.md'} and {args.out / 'latest.json'}")
    return 1 if results["problems"] else 0


if __name__ == "__main__":
    started = time.monotonic()
    try:
        code = main()
    except KeyboardInterrupt:
        procs.stop_all()
        log("interrupted; child processes stopped")
        code = 130
    log(f"done in {time.monotonic() - started:.0f} s")
    sys.exit(code)

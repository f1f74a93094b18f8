"""The field's benchmark: added latency at concurrency 1, the throughput frontier at a p99 bound,
paced streams sustained with every frame on time, and memory, for every surface side by side with
direct calls to the simulator and the bare passthrough (``reference``), in one run.

    .venv/bin/python bench/field.py [--quick] [--rounds 3] [--duration 5]
        [--ladder 1,2,4,8,16,32,64,128] [--streams 64,128,256,512,1024]

Gateways (the proxy, the reference) run pinned to core 0; the simulator, wrk and the stream
client to core 1 (``os.sched_setaffinity``, inherited by every child), so that what is measured
is the gateway's own core. Figures, each against ``direct`` in the same run:

* **c=1**: wrk at one connection, ``--rounds`` rounds, each shown; added p50 and p99 are the
  target's minus direct's of the same round.
* **frontier**: wrk over the concurrency ladder; the throughput at p99 <= 1, 5, 10 and 20 ms is
  the most requests per second of a step whose p99 was within the bound (0: none was). CPU ms
  per request of the gateway at each step.
* **paced streams**: ``bench/paced_upstream.py`` replays a simulator stream of 64 frames, 20 ms
  apart (the same bytes for every request); ``bench/paced.py`` opens N streams at once (N over
  ``--streams``) and times every frame. A level is sustained when
  every stream ended with status 200 and every gap was under 10x the pace, with TTFT p99 <= 200
  ms. Added TTFT and added inter-frame p50/p99 are at the lowest level. Before the first level,
  one burst of the top level through each gateway warms its pool of connections to the replayer,
  so that every target meets the same warm pool (else the first one alone would open them).
* **RSS** of the proxy: idle after start-up, steady after the load, and recovered after 10 s idle.

Writes bench/results/field.md and field.json.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import procs
import procstat
import wrk
from run import KEYS, RESULTS, TARGETS, Target, machine_facts, proxy_server, start_reference, start_simulator

GATEWAY_CORE, LOAD_CORE = {0}, {1}
BOUNDS_MS = (1, 5, 10, 20)
PACE_S, FRAMES = 0.020, 64
HERE = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 s phases, 1 round, short ladders")
    parser.add_argument("--rounds", type=int, help="c=1 rounds (default 3; quick 1)")
    parser.add_argument("--duration", type=int, help="seconds per wrk phase (default 5; quick 1)")
    parser.add_argument("--ladder", help="concurrency ladder (default 1,2,4,8,16,32,64,128)")
    parser.add_argument("--streams", help="paced-stream levels (default 64,128,256,512,1024)")
    parser.add_argument("--targets", help="comma-separated target names (default: all)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.duration = args.duration or (1 if args.quick else 5)
    args.ladder = [int(c) for c in (args.ladder or ("1,8,64" if args.quick else "1,2,4,8,16,32,64,128")).split(",")]
    args.streams = [int(n) for n in (args.streams or ("16,64" if args.quick else "64,128,256,512,1024")).split(",")]
    wanted = set(args.targets.split(",")) if args.targets else None
    args.target_list = [t for t in TARGETS if wanted is None or t.name in wanted or t.name == "direct"]
    return args


@contextlib.contextmanager
def pinned(cores: set[int]) -> Iterator[None]:
    """Children spawned inside run on ``cores`` (affinity is inherited at fork)."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def start_paced_upstream(simulator: procs.Server) -> procs.Server:
    """``bench/paced_upstream.py``: the simulator's 64-frame stream, replayed at the pace."""
    port = procs.free_port()
    server = procs.Server("paced-upstream", [], port=port, ready_path="/v1beta/models")
    server.command = [sys.executable, str(HERE / "paced_upstream.py"), "--port", str(port), "--simulator",
                      simulator.url, "--key", KEYS[0], "--pace", str(PACE_S)]  # fmt: skip
    return server.start()


def log(message: str) -> None:
    print(f"[field] {message}", file=sys.stderr, flush=True)


def gateway_pid(servers: dict[str, procs.Server], target: Target) -> int | None:
    return None if target.server == "simulator" else servers[target.server].pid


def wrk_phase(servers: dict[str, procs.Server], target: Target, connections: int, duration: int) -> dict[str, Any]:
    url = servers[target.server].url + target.path
    pid = gateway_pid(servers, target)
    before = procstat.tree_cpu_seconds(pid) if pid else 0.0
    result = wrk.run(url, orjson.dumps(target.body), target.headers, connections=connections, duration_s=duration)
    cpu = (procstat.tree_cpu_seconds(pid) - before) if pid else 0.0
    return {**result.as_dict(), "cpu_ms_per_request": round(cpu * 1000 / max(result.requests, 1), 4)}


def c1_rounds(args: argparse.Namespace, servers: dict[str, procs.Server]) -> dict[str, list[dict[str, Any]]]:
    rounds: dict[str, list[dict[str, Any]]] = {t.name: [] for t in args.target_list}
    for k in range(args.rounds):
        for target in args.target_list:
            row = wrk_phase(servers, target, 1, args.duration)
            rounds[target.name].append(row)
            log(f"c=1 round {k + 1} {target.name:<16} p50 {row['p50_ms']:.3f} p99 {row['p99_ms']:.3f} ms")
    return rounds


def frontier(args: argparse.Namespace, servers: dict[str, procs.Server]) -> dict[str, list[dict[str, Any]]]:
    steps: dict[str, list[dict[str, Any]]] = {t.name: [] for t in args.target_list}
    for connections in args.ladder:
        for target in args.target_list:
            row = wrk_phase(servers, target, connections, args.duration)
            steps[target.name].append({"concurrency": connections, **row})
            log(f"c={connections:<4} {target.name:<16} {row['rps']:8.0f} req/s p99 {row['p99_ms']:.3f} ms")
    return steps


def at_bound(steps: list[dict[str, Any]], bound_ms: float) -> float:
    within = [s["rps"] for s in steps if s["p99_ms"] <= bound_ms and s["errors"] + s["non2xx"] == 0]
    return max(within, default=0.0)


def paced_run(url: str, body: bytes, headers: dict[str, str], streams: int) -> dict[str, Any]:
    """``bench/paced.py`` with ``streams`` streams at once, pinned to the load core: its summary."""
    with tempfile.NamedTemporaryFile(suffix=".json") as file:
        file.write(body)
        file.flush()
        command = [sys.executable, str(HERE / "paced.py"), url, file.name, json.dumps(headers), str(streams),
                   "--late-ms", str(PACE_S * 10 * 1000)]  # fmt: skip
        with pinned(LOAD_CORE):
            done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=180)
    if done.returncode != 0:
        raise RuntimeError(f"paced.py failed: {done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def warm_pools(args: argparse.Namespace, servers: dict[str, procs.Server]) -> None:
    """One burst of the top level through each gateway first, so that every target meets a pool of
    connections to the replayer as warm as the others' (without it the first target alone would pay
    for opening them at each level past the last)."""
    warmed = set()
    for target in args.target_list:
        if target.server != "simulator" and target.server not in warmed:
            warmed.add(target.server)
            server = servers[f"paced-{target.server}"]
            paced_run(server.url + target.stream_path, orjson.dumps(target.stream_body), target.headers,
                      max(args.streams))  # fmt: skip


def paced(args: argparse.Namespace, servers: dict[str, procs.Server]) -> dict[str, list[dict[str, Any]]]:
    levels: dict[str, list[dict[str, Any]]] = {t.name: [] for t in args.target_list}
    warm_pools(args, servers)
    for target in args.target_list:
        server = servers["paced-simulator" if target.server == "simulator" else f"paced-{target.server}"]
        for streams in args.streams:
            row = paced_run(server.url + target.stream_path, orjson.dumps(target.stream_body), target.headers,
                            streams)  # fmt: skip
            row["sustained"] = row["on_time"] == streams and row["errors"] == 0 and row["ttft_p99_ms"] <= 200
            levels[target.name].append(row)
            log(f"paced {streams:<5} {target.name:<16} on time {row['on_time']}/{streams} TTFT p99 "
                f"{row['ttft_p99_ms']:.1f} ms gap p99 {row['gap_p99_ms']:.1f} ms")
            if not row["sustained"]:
                break  # a level that fails: the higher ones would too
    return levels


def summary(args: argparse.Namespace, c1: dict[str, Any], steps: dict[str, Any], streams: dict[str, Any]) -> list[
        dict[str, Any]]:  # fmt: skip
    direct_c1, direct_paced = c1["direct"], streams["direct"][0] if streams["direct"] else {}
    rows = []
    for target in args.target_list:
        own = c1[target.name]
        added50 = [round((r["p50_ms"] - d["p50_ms"]) * 1000) for r, d in zip(own, direct_c1, strict=True)]
        added99 = [round((r["p99_ms"] - d["p99_ms"]) * 1000) for r, d in zip(own, direct_c1, strict=True)]
        first = streams[target.name][0] if streams[target.name] else {}
        sustained = [lv["streams"] for lv in streams[target.name] if lv["sustained"]]
        cpu = [s["cpu_ms_per_request"] for s in steps[target.name] if s["cpu_ms_per_request"]]
        rows.append({
            "target": target.name,
            "added_p50_us": sorted(added50)[len(added50) // 2], "added_p50_rounds_us": added50,
            "added_p99_us": sorted(added99)[len(added99) // 2], "added_p99_rounds_us": added99,
            "rps_at_p99_ms": {str(b): at_bound(steps[target.name], b) for b in BOUNDS_MS},
            "cpu_ms_per_request": min(cpu, default=0.0),
            "added_ttft_ms": round(first.get("ttft_p50_ms", 0) - direct_paced.get("ttft_p50_ms", 0), 3),
            "added_gap_p50_ms": round(first.get("gap_p50_ms", 0) - direct_paced.get("gap_p50_ms", 0), 3),
            "added_gap_p99_ms": round(first.get("gap_p99_ms", 0) - direct_paced.get("gap_p99_ms", 0), 3),
            "streams_sustained": max(sustained, default=0),
        })  # fmt: skip
    return rows


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        "# gemini-proxy field benchmark", "",
        f"{results['generated_at']} · {m['cores']} cores ({m['cpu_model']}) · Python {m['python']} · "
        f"gateways on core 0, simulator and load on core 1 · {results['settings']}", "",
        "Added figures are against `direct` (the simulator itself) in the same run; `reference` is the bare "
        "passthrough of bench/reference.py.", "",
        "| target | added p50 c=1 (rounds) | added p99 c=1 (rounds) | "
        + " | ".join(f"req/s at p99 <= {b} ms" for b in BOUNDS_MS)
        + " | CPU ms/req | added TTFT | added gap p50 / p99 | streams sustained |",
        "|---" * (7 + len(BOUNDS_MS)) + "|",
    ]  # fmt: skip
    for r in results["summary"]:
        rounds50 = ", ".join(str(v) for v in r["added_p50_rounds_us"])
        rounds99 = ", ".join(str(v) for v in r["added_p99_rounds_us"])
        frontier_cells = " | ".join(f"{r['rps_at_p99_ms'][str(b)]:,.0f}" for b in BOUNDS_MS)
        lines.append(
            f"| {r['target']} | {r['added_p50_us']} us ({rounds50}) | {r['added_p99_us']} us ({rounds99}) | "
            f"{frontier_cells} | {r['cpu_ms_per_request']:.3f} | {r['added_ttft_ms']:.2f} ms | "
            f"{r['added_gap_p50_ms']:.2f} / {r['added_gap_p99_ms']:.2f} ms | {r['streams_sustained']} |"
        )
    rss = results["rss_mb"]
    lines += ["", f"Proxy RSS: idle {rss['idle']:.1f} MB, steady {rss['steady']:.1f} MB, "
              f"recovered {rss['recovered']:.1f} MB (after 10 s idle).", ""]  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if len(os.sched_getaffinity(0)) < 2:
        print("field: needs two cores (gateway on one, load on the other)", file=sys.stderr)
        return 2
    machine = machine_facts()
    procs.raise_on_sigterm()
    os.sched_setaffinity(0, LOAD_CORE)  # the harness and everything it spawns, unless pinned elsewhere
    servers: dict[str, procs.Server] = {}
    try:
        servers["simulator"] = start_simulator(3)  # the simulator's default chunks: c=1 and frontier are unary
        servers["paced-simulator"] = start_paced_upstream(start_simulator(FRAMES))
        with pinned(GATEWAY_CORE):
            servers["proxy"] = proxy_server(servers["simulator"].url).start()
            servers["reference"] = start_reference(servers["simulator"].url)
            servers["paced-proxy"] = proxy_server(servers["paced-simulator"].url).start()
            servers["paced-reference"] = start_reference(servers["paced-simulator"].url)
        time.sleep(1.0)
        rss = {"idle": procstat.tree_rss_bytes(servers["proxy"].pid) / 2**20}
        for target in args.target_list:  # warm-up
            wrk_phase(servers, target, 8, 1)
        c1 = c1_rounds(args, servers)
        steps = frontier(args, servers)
        rss["steady"] = procstat.tree_rss_bytes(servers["proxy"].pid) / 2**20
        streams = paced(args, servers)
        time.sleep(1 if args.quick else 10)
        rss["recovered"] = procstat.tree_rss_bytes(servers["proxy"].pid) / 2**20
    finally:
        procs.stop_all()
    results: dict[str, Any] = {
        "generated_at": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine,
        "settings": {"rounds": args.rounds, "duration_s": args.duration, "ladder": args.ladder,
                     "streams": args.streams, "pace_ms": PACE_S * 1000, "frames": FRAMES},
        "c1": c1, "frontier": steps, "paced": streams, "rss_mb": rss,
    }  # fmt: skip
    results["summary"] = summary(args, c1, steps, streams)
    text = markdown(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "field.md").write_text(text)
    (args.out / "field.json").write_text(json.dumps(results, indent=2) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    started = time.monotonic()
    try:
        code = main()
    except KeyboardInterrupt:
        procs.stop_all()
        code = 130
    log(f"done in {time.monotonic() - started:.0f} s")
    sys.exit(code)

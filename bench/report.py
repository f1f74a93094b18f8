"""Comparisons, the budget verdict and the Markdown report, all computed from the raw results dict."""

from __future__ import annotations

from typing import Any

DIRECT = "direct"
PROXY_TARGETS = ("proxy-native", "proxy-openai", "proxy-anthropic", "proxy-responses")

# name, limit, unit: the budget from the project's issue (one worker, 2 cores, load generator alongside).
LIMITS = {
    "cpu_ms_per_request": (0.5, "ms"),
    "added_p50_c1_ms": (1.0, "ms"),
    "added_stream_ttfb_ms": (1.0, "ms"),
    "rss_mb": (100.0, "MB"),
    "startup_s": (1.5, "s"),
}


NOISY = 0.10  # share of busy CPU used by outside processes above which the report warns
DISTURBED_CORES = 0.1  # outside load during a phase above which a budget figure resting on it is starred


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def comparisons(results: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Proxy/direct ratios for every phase; added latency = proxy p50 - direct p50."""
    load = {(r["target"], r["concurrency"]): r for r in results["load"]}
    nonstream = []
    for (target, concurrency), row in load.items():
        direct = load.get((DIRECT, concurrency))
        if target == DIRECT or direct is None:
            continue
        nonstream.append({
            "target": target, "concurrency": concurrency,
            "rps_ratio": _ratio(row["rps"], direct["rps"]),
            "p50_ratio": _ratio(row["p50_ms"], direct["p50_ms"]),
            "p99_ratio": _ratio(row["p99_ms"], direct["p99_ms"]),
            "added_p50_ms": round(row["p50_ms"] - direct["p50_ms"], 3),
            "added_p99_ms": round(row["p99_ms"] - direct["p99_ms"], 3),
        })
    streams = {r["target"]: r for r in results["stream"]}
    stream = []
    direct_stream = streams.get(DIRECT)
    for target, row in streams.items():
        if target == DIRECT or direct_stream is None:
            continue
        stream.append({
            "target": target,
            "added_ttfb_p50_ms": round(row["ttfb_p50_ms"] - direct_stream["ttfb_p50_ms"], 3),
            "added_total_p50_ms": round(row["total_p50_ms"] - direct_stream["total_p50_ms"], 3),
            "ttfb_p50_ratio": _ratio(row["ttfb_p50_ms"], direct_stream["ttfb_p50_ms"]),
            "total_p50_ratio": _ratio(row["total_p50_ms"], direct_stream["total_p50_ms"]),
        })
    return {"nonstream": nonstream, "stream": stream}


def _check(name: str, what: str, value: float | None, phases: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """One budget row; ``disturbed`` when a phase it rests on ran beside notable outside load."""
    limit, unit = LIMITS[name]
    disturbed = any(_outside_cores(p) > DISTURBED_CORES for p in phases or [])
    return {"check": name, "what": what, "value": None if value is None else round(value, 3), "limit": limit,
            "unit": unit, "pass": value is not None and value <= limit,
            "margin": None if value is None else round(limit - value, 3), "disturbed": disturbed}


def budget(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per budgeted figure. CPU is judged on the worst concurrency level of each proxy path."""
    rows = []
    load = {(r["target"], r["concurrency"]): r for r in results["load"]}
    for target in PROXY_TARGETS:
        phases = [r for r in results["load"] if r["target"] == target]
        worst = max(phases, key=lambda r: r["cpu_ms_per_request"]["proxy_tree"], default=None)
        rows.append(_check("cpu_ms_per_request", f"proxy CPU per request, {target} (worst concurrency)",
                           worst["cpu_ms_per_request"]["proxy_tree"] if worst else None, [worst] if worst else []))
    added = {c["target"]: c for c in results["comparisons"]["nonstream"] if c["concurrency"] == 1}
    for target in PROXY_TARGETS:
        row = added.get(target)
        phases = [load[(t, 1)] for t in (DIRECT, target) if (t, 1) in load]
        rows.append(_check("added_p50_c1_ms", f"added p50 latency at concurrency 1, {target}",
                           row["added_p50_ms"] if row else None, phases))
    stream = {c["target"]: c for c in results["comparisons"]["stream"]}
    streams = {r["target"]: r for r in results["stream"]}
    for target in PROXY_TARGETS:
        row = stream.get(target)
        phases = [streams[t] for t in (DIRECT, target) if t in streams]
        rows.append(_check("added_stream_ttfb_ms", f"added streaming TTFB p50, {target}",
                           row["added_ttfb_p50_ms"] if row else None, phases))
    rows.append(_check("rss_mb", "proxy RSS after load (process tree)", results["rss_mb"]["proxy_tree"]))
    rows.append(_check("startup_s", "proxy start-up, spawn to first /health 200 (best of 3)",
                       results["startup_s"]["best"]))
    return rows


def problems(results: dict[str, Any]) -> list[str]:
    """Phases that must be flagged: any error or non-2xx answer, or no request completed."""
    found = []
    for row in results["load"]:
        if row["errors"] or row["non2xx"] or row.get("errors_all_rounds") or not row["requests"]:
            found.append(f"{row['target']} c={row['concurrency']}: {row['requests']} requests, "
                         f"{row['errors']} socket errors, {row['non2xx']} non-2xx "
                         f"({row.get('errors_all_rounds', 0)} errors over all {row.get('rounds', 1)} rounds)")
    for row in results["stream"]:
        if row["errors"] or not row["requests"]:
            found.append(f"stream {row['target']}: {row['requests']} streams, {row['errors']} errors")
    return found


def noise(results: dict[str, Any]) -> dict[str, float]:
    """How much of the machine's busy CPU during the measured phases went to processes outside the benchmark."""
    phases = results["load"] + results["stream"]
    others = sum(p["cpu_s"]["others"] for p in phases)
    busy = sum(p["cpu_s"]["machine"] for p in phases)
    return {"other_cpu_s": round(others, 2), "busy_cpu_s": round(busy, 2),
            "other_share": round(others / busy, 3) if busy else 0.0}


def _outside_cores(row: dict[str, Any]) -> float:
    """Cores' worth of CPU used by processes outside the benchmark during the phase."""
    seconds = row["cpu_s"]
    return float(seconds["others"] / seconds["wall"]) if seconds["wall"] else 0.0


def _outside(row: dict[str, Any]) -> str:
    return f"{_outside_cores(row):.2f} cores"


def _fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def markdown(results: dict[str, Any]) -> str:
    m, s = results["machine"], results["settings"]
    out = [
        "# gemini-proxy benchmark", "",
        f"{results['generated_at']} · {m['cores']} cores ({m['cpu_model']}) · Linux {m['kernel']} · "
        f"Python {m['python']} · " + " ".join(f"{k} {v}" for k, v in m["packages"].items()) + f" · {m['wrk']}",
        "",
        f"One proxy worker; simulator and load generator on the same machine, all on 127.0.0.1. "
        f"Non-streaming: wrk, {s['threads']} thread, {s['duration_s']:g} s per phase "
        f"(after a {s['warmup_s']:g} s warm-up per target)"
        + (f", least disturbed of {s['repeat']} rounds. " if s["repeat"] > 1 else ". ")
        + f"Streaming: {s['stream_requests']} sequential "
        f"{s['stream_chunks']}-chunk streams per target (a blocking socket, one keep-alive connection), in "
        f"{s['stream_rounds']} interleaved rounds; TTFB = request sent to first body byte. "
        "CPU columns are milliseconds of CPU per completed request, read from /proc (10 ms clock ticks); "
        "proxy CPU covers its whole process tree. \"Outside load\" is the machine's busy CPU not used by the "
        f"benchmark, in cores, averaged over the phase (load average at start: {m['loadavg']}). "
        "`reference` is not the proxy but a bare raw-ASGI passthrough (`bench/reference.py`, aiohttp upstream, "
        "no routing, pool or validation), measured in the same run: the floor on this machine, now.",
        "", "## Non-streaming", "",
    ]
    ratios = {(c["target"], c["concurrency"]): c for c in results["comparisons"]["nonstream"]}
    rows = []
    for r in results["load"]:
        c = ratios.get((r["target"], r["concurrency"]), {})
        cpu = r["cpu_ms_per_request"]
        rows.append([
            str(r["concurrency"]), r["target"], f"{r['rps']:.0f}", f"{r['p50_ms']:.3f}", f"{r['p99_ms']:.3f}",
            f"{r['errors']}/{r['non2xx']}", _fmt(c.get("rps_ratio")), _fmt(c.get("p50_ratio")),
            _fmt(c.get("added_p50_ms"), 3) if c else "",
            f"{cpu['proxy_tree']:.3f}", f"{cpu['simulator']:.3f}", f"{cpu['load_generator']:.3f}",
            _outside(r),
        ])
    out += _table(["conc", "target", "req/s", "p50 ms", "p99 ms", "err/non-2xx", "rps ×direct", "p50 ×direct",
                   "added p50 ms", "proxy CPU", "sim CPU", "wrk CPU", "outside load"], rows)
    out += ["", "## Streaming", ""]
    ratios_s = {c["target"]: c for c in results["comparisons"]["stream"]}
    rows = []
    for r in results["stream"]:
        c = ratios_s.get(r["target"], {})
        cpu = r["cpu_ms_per_request"]
        rows.append([
            r["target"], str(r["requests"]), str(r["errors"]), str(r["events_per_stream"]),
            f"{r['ttfb_p50_ms']:.3f}", f"{r['ttfb_p99_ms']:.3f}", f"{r['total_p50_ms']:.3f}",
            f"{r['total_p99_ms']:.3f}", _fmt(c.get("added_ttfb_p50_ms"), 3) if c else "",
            _fmt(c.get("added_total_p50_ms"), 3) if c else "",
            f"{cpu['proxy_tree']:.3f}", f"{cpu['simulator']:.3f}", f"{cpu['client']:.3f}", _outside(r),
        ])
    header = ["target", "streams", "errors", "events", "TTFB p50 ms", "TTFB p99 ms", "total p50 ms", "total p99 ms",
              "added TTFB ms", "added total ms", "proxy CPU", "sim CPU", "client CPU", "outside load"]
    out += _table(header, rows)
    startup = results["startup_s"]
    out += [
        "", "## Proxy process", "",
        f"- RSS after load: {results['rss_mb']['proxy_tree']:.1f} MB (process tree; "
        f"{results['rss_mb']['proxy_processes']} process(es)); simulator {results['rss_mb']['simulator']:.1f} MB",
        f"- Start-up (spawn to first /health 200): best {startup['best']:.3f} s of "
        + ", ".join(f"{t:.3f}" for t in startup["runs"]) + " s",
        "", "## Budget", "",
    ]
    rows = [[b["what"], f"{_fmt(b['value'], 3)} {b['unit']}", f"≤ {b['limit']:g} {b['unit']}",
             ("PASS" if b["pass"] else "MISS") + ("*" if b["disturbed"] else ""),
             "n/a" if b["margin"] is None else f"{b['margin']:+.3f} {b['unit']} ({b['margin'] / b['limit']:+.0%})"]
            for b in results["budget"]]
    out += _table(["figure", "value", "limit", "verdict", "margin"], rows)
    met = sum(b["pass"] for b in results["budget"])
    out += ["", f"Budget: {met}/{len(results['budget'])} figures within limits."]
    if any(b["disturbed"] for b in results["budget"]):
        out += ["", f"\\* rests on a phase that ran beside more than {DISTURBED_CORES:g} core of outside load "
                "(see the \"outside load\" columns): re-run on an idle machine before quoting it."]
    if results["noise"]["other_share"] > NOISY:
        out += ["", f"**Warning: the machine was not quiet.** Processes outside the benchmark used "
                f"{results['noise']['other_cpu_s']:.1f} of the {results['noise']['busy_cpu_s']:.1f} busy CPU-seconds "
                f"({results['noise']['other_share']:.0%}) during the measured phases: latency and throughput are "
                "pessimistic; CPU per request is the most robust figure. Re-run on an idle machine."]
    if results["problems"]:
        out += ["", "**FLAGGED: phases with errors** (the figures above are not trustworthy for these):", ""]
        out += [f"- {p}" for p in results["problems"]]
    return "\n".join(out) + "\n"

"""Streaming probe: N sequential SSE requests over one keep-alive connection; TTFB and total time of each."""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import asdict, dataclass

import aiohttp


@dataclass(frozen=True)
class StreamResult:
    requests: int
    errors: int  # non-200 answers, transport errors, or streams that ended without any event
    events_per_stream: int  # SSE "data:" events in the last good stream
    ttfb_p50_ms: float
    ttfb_p99_ms: float
    total_p50_ms: float
    total_p99_ms: float
    rps: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (the value below which ``pct`` % of the samples fall)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(pct / 100 * len(ordered))))
    return ordered[rank - 1]


async def _one(session: aiohttp.ClientSession, url: str, body: bytes,
               headers: dict[str, str]) -> tuple[float, float, int] | None:
    """(ttfb, total, events) of one stream, or None when it failed. TTFB is request start to first body byte."""
    started = time.perf_counter()
    ttfb = 0.0
    data = bytearray()
    async with session.post(url, data=body, headers=headers) as response:
        async for chunk in response.content.iter_any():
            if not data:
                ttfb = time.perf_counter() - started
            data += chunk
        total = time.perf_counter() - started
        if response.status != 200 or not data:
            return None
    events = data.count(b"data:")
    return (ttfb, total, events) if events else None


async def probe(url: str, body: bytes, headers: dict[str, str], *, requests: int, max_seconds: float,
                warmup: int = 3) -> StreamResult:
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"the benchmark only sends traffic to 127.0.0.1, not {url}")
    timeout = aiohttp.ClientTimeout(total=30)
    ttfbs: list[float] = []
    totals: list[float] = []
    errors = 0
    events = 0
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False) as session:
        all_headers = {"content-type": "application/json", **headers}
        for _ in range(warmup):
            await _one(session, url, body, all_headers)
        started = time.perf_counter()
        deadline = started + max_seconds
        while len(ttfbs) + errors < requests and time.perf_counter() < deadline:
            try:
                outcome = await _one(session, url, body, all_headers)
            except (TimeoutError, aiohttp.ClientError):
                outcome = None
            if outcome is None:
                errors += 1
                continue
            ttfbs.append(outcome[0])
            totals.append(outcome[1])
            events = outcome[2]
        elapsed = time.perf_counter() - started
    return StreamResult(
        requests=len(ttfbs),
        errors=errors,
        events_per_stream=events,
        ttfb_p50_ms=round(percentile(ttfbs, 50) * 1000, 3),
        ttfb_p99_ms=round(percentile(ttfbs, 99) * 1000, 3),
        total_p50_ms=round(percentile(totals, 50) * 1000, 3),
        total_p99_ms=round(percentile(totals, 99) * 1000, 3),
        rps=round(len(ttfbs) / elapsed, 1) if elapsed else 0.0,
    )


def run(url: str, body: bytes, headers: dict[str, str], *, requests: int, max_seconds: float) -> StreamResult:
    return asyncio.run(probe(url, body, headers, requests=requests, max_seconds=max_seconds))

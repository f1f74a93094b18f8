"""Streaming probe: N sequential SSE requests over one keep-alive connection; TTFB and total time of each."""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import asdict, dataclass, field

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
    rps: float  # streams per second of probe time (sequential, so 1 / mean total time)

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass
class Samples:
    """Raw timings of one or more probe blocks (seconds); ``add`` merges blocks of interleaved rounds."""

    ttfbs: list[float] = field(default_factory=list)
    totals: list[float] = field(default_factory=list)
    errors: int = 0
    events: int = 0
    elapsed: float = 0.0

    def add(self, other: Samples) -> None:
        self.ttfbs += other.ttfbs
        self.totals += other.totals
        self.errors += other.errors
        self.events = other.events or self.events
        self.elapsed += other.elapsed

    def summary(self) -> StreamResult:
        return StreamResult(
            requests=len(self.ttfbs),
            errors=self.errors,
            events_per_stream=self.events,
            ttfb_p50_ms=round(percentile(self.ttfbs, 50) * 1000, 3),
            ttfb_p99_ms=round(percentile(self.ttfbs, 99) * 1000, 3),
            total_p50_ms=round(percentile(self.totals, 50) * 1000, 3),
            total_p99_ms=round(percentile(self.totals, 99) * 1000, 3),
            rps=round(len(self.ttfbs) / self.elapsed, 1) if self.elapsed else 0.0,
        )


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
                warmup: int = 2) -> Samples:
    """``requests`` sequential streams (at most ``max_seconds``) after ``warmup`` untimed ones."""
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"the benchmark only sends traffic to 127.0.0.1, not {url}")
    samples = Samples()
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False) as session:
        all_headers = {"content-type": "application/json", **headers}
        for _ in range(warmup):
            await _one(session, url, body, all_headers)
        started = time.perf_counter()
        deadline = started + max_seconds
        while len(samples.ttfbs) + samples.errors < requests and time.perf_counter() < deadline:
            try:
                outcome = await _one(session, url, body, all_headers)
            except (TimeoutError, aiohttp.ClientError):
                outcome = None
            if outcome is None:
                samples.errors += 1
                continue
            samples.ttfbs.append(outcome[0])
            samples.totals.append(outcome[1])
            samples.events = outcome[2]
        samples.elapsed = time.perf_counter() - started
    return samples


def run(url: str, body: bytes, headers: dict[str, str], *, requests: int, max_seconds: float) -> Samples:
    return asyncio.run(probe(url, body, headers, requests=requests, max_seconds=max_seconds))

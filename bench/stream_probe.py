"""Streaming probe: N sequential SSE requests over one keep-alive connection; TTFB and total time of each.

A blocking socket and no HTTP library: see ``_Connection``."""

from __future__ import annotations

import math
import socket
import time
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit


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


class _Connection:
    """One keep-alive connection on a blocking socket: the lightest client Python has, so that the
    probe takes as little CPU as possible from the two servers it measures (an aiohttp client spent
    ~1.2 ms of CPU per 20-chunk stream, as much as the proxy itself)."""

    def __init__(self, port: int, timeout: float) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        self.sock.close()

    def stream(self, request: bytes) -> tuple[float, float, int] | None:
        """(ttfb, total, events) of one stream, or None when it failed. TTFB: request sent to the
        first byte of the body."""
        sock = self.sock
        started = time.perf_counter()
        sock.sendall(request)
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            data = sock.recv(65536)
            if not data:
                return None
            buffer += data
        head, _, body = buffer.partition(b"\r\n\r\n")
        ttfb = time.perf_counter() - started if body else 0.0
        lines = head.split(b"\r\n")
        status = lines[0].split(b" ", 2)[1]
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines[1:])}
        length = int(fields[b"content-length"]) if b"content-length" in fields else None
        chunked = fields.get(b"transfer-encoding", b"").lower() == b"chunked"
        while not _complete(body, length, chunked):
            data = sock.recv(65536)
            if not data:
                return None
            if not ttfb:
                ttfb = time.perf_counter() - started
            body += data
        total = time.perf_counter() - started
        events = body.count(b"data:")
        return (ttfb, total, events) if status == b"200" and events else None


def _complete(body: bytes, length: int | None, chunked: bool) -> bool:
    if chunked:
        return body.endswith(b"0\r\n\r\n") and (body == b"0\r\n\r\n" or body.endswith(b"\r\n0\r\n\r\n"))
    if length is not None:
        return len(body) >= length
    raise ValueError("the probe needs a chunked or Content-Length answer")


def probe(url: str, body: bytes, headers: dict[str, str], *, requests: int, max_seconds: float,
          warmup: int = 2) -> Samples:
    """``requests`` sequential streams (at most ``max_seconds``) after ``warmup`` untimed ones."""
    parts = urlsplit(url)
    if parts.hostname != "127.0.0.1" or parts.port is None:
        raise ValueError(f"the benchmark only sends traffic to 127.0.0.1, not {url}")
    all_headers = {"host": f"127.0.0.1:{parts.port}", "content-type": "application/json", **headers,
                   "content-length": str(len(body))}
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    request = (f"POST {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in all_headers.items())
               + "\r\n").encode("latin-1") + body
    samples = Samples()
    connection = _Connection(parts.port, timeout=30)
    try:
        for _ in range(warmup):
            connection.stream(request)
        started = time.perf_counter()
        deadline = started + max_seconds
        while len(samples.ttfbs) + samples.errors < requests and time.perf_counter() < deadline:
            try:
                outcome = connection.stream(request)
            except (OSError, ValueError, IndexError):
                outcome = None
            if outcome is None:
                samples.errors += 1
                connection.close()
                connection = _Connection(parts.port, timeout=30)
                continue
            samples.ttfbs.append(outcome[0])
            samples.totals.append(outcome[1])
            samples.events = outcome[2]
        samples.elapsed = time.perf_counter() - started
    finally:
        connection.close()
    return samples


def run(url: str, body: bytes, headers: dict[str, str], *, requests: int, max_seconds: float) -> Samples:
    return probe(url, body, headers, requests=requests, max_seconds=max_seconds)

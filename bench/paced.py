"""Paced streams: N SSE requests at once, each frame timed as it arrives; a JSON summary on stdout.

    python bench/paced.py URL BODY_FILE HEADERS_JSON STREAMS [--timeout S]

Run by ``bench/field.py`` as a process of its own, pinned to the load core, so that timing
thousands of frames does not take CPU from the gateway measured. Raw sockets on uvloop and no
HTTP library: a frame is an SSE event, counted by its ``data:`` field (one per event on every
surface), and its arrival time is when the read holding that field returned. Each request says
``connection: close``, so the end of a stream is the end of its connection.

Per stream: TTFT (request written to the first frame), the gaps between frames, the frame count.
The summary: TTFT p50/p99, gap p50/p99 over all gaps, the largest gap, and how many streams
ended with status 200 and no gap over ``--late-ms``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import uvloop
from stream_probe import percentile  # this script's folder is on sys.path


class Stream(asyncio.Protocol):
    def __init__(self, request: bytes, finished: asyncio.Future[None]) -> None:
        self.request = request
        self.finished = finished
        self.head = b""
        self.status = 0
        self.in_body = False
        self.tail = b""  # the last bytes read, so that a "data:" split across reads is still seen
        self.times: list[float] = []
        self.sent = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.sent = time.perf_counter()
        transport.write(self.request)  # type: ignore[attr-defined]  # uvloop's TCPTransport

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        if not self.in_body:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end == -1:
                return
            self.status = int(self.head.split(b" ", 2)[1])
            self.in_body, data = True, self.head[end + 4 :]
        piece = self.tail + data
        self.times.extend([now] * piece.count(b"data:"))
        self.tail = piece[-4:]  # shorter than b"data:": a tail is never counted twice

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.finished.done():
            self.finished.set_result(None)


async def run(url: str, body: bytes, headers: dict[str, str], streams: int, timeout: float,
              late_ms: float) -> dict[str, object]:  # fmt: skip
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"POST {path} HTTP/1.1", f"host: {host}:{port}", "content-type: application/json",
             f"content-length: {len(body)}", "connection: close", *(f"{k}: {v}" for k, v in headers.items())]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    loop = asyncio.get_running_loop()
    protocols: list[Stream] = []
    waits = []
    errors = 0
    for _ in range(streams):
        finished: asyncio.Future[None] = loop.create_future()
        protocol = Stream(request, finished)
        protocols.append(protocol)
        waits.append(finished)
    started = time.perf_counter()
    connects = await asyncio.gather(
        *(loop.create_connection(lambda p=p: p, host, port) for p in protocols), return_exceptions=True  # type: ignore[misc]
    )
    errors += sum(1 for c in connects if isinstance(c, BaseException))
    pending = [w for w, c in zip(waits, connects, strict=True) if not isinstance(c, BaseException)]
    done, still = await asyncio.wait(pending, timeout=timeout) if pending else (set(), set())
    for connect in connects:
        if not isinstance(connect, BaseException):
            connect[0].close()
    errors += len(still)
    ttfts, gaps, frames, on_time, biggest = [], [], [], 0, 0.0
    for protocol, connect in zip(protocols, connects, strict=True):
        if isinstance(connect, BaseException) or not protocol.times:
            continue
        ttfts.append(protocol.times[0] - protocol.sent)
        own = [b - a for a, b in zip(protocol.times, protocol.times[1:], strict=False)]
        gaps.extend(own)
        frames.append(len(protocol.times))
        worst = max(own, default=0.0)
        biggest = max(biggest, worst)
        if protocol.status == 200 and worst * 1000 <= late_ms:
            on_time += 1
    errors += sum(1 for p in protocols if p.status not in (0, 200))
    ms = 1000.0
    return {
        "streams": streams, "errors": errors, "on_time": on_time,
        "frames_min": min(frames, default=0), "frames_max": max(frames, default=0),
        "ttft_p50_ms": round(percentile(ttfts, 50) * ms, 3), "ttft_p99_ms": round(percentile(ttfts, 99) * ms, 3),
        "gap_p50_ms": round(percentile(gaps, 50) * ms, 3), "gap_p99_ms": round(percentile(gaps, 99) * ms, 3),
        "gap_max_ms": round(biggest * ms, 3), "wall_s": round(time.perf_counter() - started, 3),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("body_file", type=Path)
    parser.add_argument("headers_json")
    parser.add_argument("streams", type=int)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--late-ms", type=float, default=200.0, help="a gap over this is a late frame")
    args = parser.parse_args()
    if not args.url.startswith("http://127.0.0.1:"):
        sys.exit("paced streams go to 127.0.0.1 only")
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # a socket per stream
    result = uvloop.run(run(args.url, args.body_file.read_bytes(), json.loads(args.headers_json), args.streams,
                            args.timeout, args.late_ms))  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()

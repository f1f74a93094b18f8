"""Which async HTTP client to use upstream: aiohttp vs httpx vs the proxy's own pool, CPU per request.

Starts the simulator on 127.0.0.1, then sends the same generateContent request through each
client in turn (pooled keep-alive connections, a fixed number of requests at a fixed
concurrency, several interleaved rounds) and reports this process's CPU time per request for
each: the cost the proxy would pay for its upstream calls.

    .venv/bin/python bench/clients.py [--requests 3000] [--concurrency 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import httpx
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))
import procs

from gemini_proxy.upstream.http import ConnectionPool

KEY = "bench-key-1"
BODY = json.dumps({"contents": [{"role": "user", "parts": [{"text": " ".join(f"w{i}" for i in range(30))}]}]}).encode()
HEADERS = {"x-goog-api-key": KEY, "content-type": "application/json"}


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def load(send: Callable[[], Awaitable[None]], requests: int, concurrency: int) -> float:
    """CPU ms per request for ``requests`` calls of ``send`` at ``concurrency``."""
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await send()

    before = cpu()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return (cpu() - before) / requests * 1000


async def main(args: argparse.Namespace) -> None:
    port = procs.free_port()
    simulator = procs.Server(
        "simulator", ["fake-upstream", "--host", "127.0.0.1", "--port", str(port), "--keys", KEY],
        port=port, ready_path="/_sim/stats",
    )
    simulator.start()
    path = "/v1beta/models/gemini-2.5-flash:generateContent"
    url = f"http://127.0.0.1:{simulator.port}{path}"
    pool = ConnectionPool(f"http://127.0.0.1:{simulator.port}", connect_timeout=10, read_timeout=30)
    header_list = list(HEADERS.items())
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session, httpx.AsyncClient(
            limits=httpx.Limits(max_connections=args.concurrency)
        ) as client:

            async def via_aiohttp() -> None:
                async with session.post(url, data=BODY, headers=HEADERS) as response:
                    await response.read()
                    assert response.status == 200

            async def via_httpx() -> None:
                response = await client.post(url, content=BODY, headers=HEADERS)
                assert response.status_code == 200

            async def via_pool() -> None:
                response = await pool.request("POST", path, header_list, BODY)
                await response.read()
                assert response.status == 200

            clients = (("aiohttp", via_aiohttp), ("httpx", via_httpx), ("httpclient", via_pool))
            results: dict[str, list[float]] = {name: [] for name, _ in clients}
            for _, warm in clients:
                await load(warm, 200, args.concurrency)  # warm-up: connections, imports
            for _ in range(args.rounds):
                for name, send in clients:
                    results[name].append(await load(send, args.requests, args.concurrency))
    finally:
        await pool.close()
        simulator.stop()
    print(f"client CPU per request, {args.requests} requests x {args.rounds} rounds at concurrency {args.concurrency}"
          " (uvloop, as in the proxy)")
    for name, values in results.items():
        print(f"  {name:10} best {min(values):.3f} ms   all: {' '.join(f'{v:.3f}' for v in values)}")
    for name in ("aiohttp", "httpx"):
        print(f"  {name} / httpclient = {min(results[name]) / min(results['httpclient']):.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    started = time.monotonic()
    uvloop.run(main(parser.parse_args()))
    print(f"  ({time.monotonic() - started:.0f} s)")

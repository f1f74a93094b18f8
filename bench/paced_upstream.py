"""A cheap paced upstream for the streams of ``bench/field.py``: the simulator's own stream, replayed.

    python bench/paced_upstream.py --port P --simulator URL --key KEY --pace 0.02

At start it asks the simulator (``URL``) for one ``streamGenerateContent?alt=sse`` answer and the
model list, and keeps their bytes. Then every ``POST .../...:streamGenerateContent`` gets that
stream again, one frame per tick of ``--pace`` seconds, and ``GET /v1beta/models...`` the model
list; anything else is a 404. One ticker writes the next frame of every open stream, so a
thousand streams cost a thousand writes a tick and no timers: the simulator renders each chunk
anew (faithful, and too dear to pace a thousand streams beside the load generator on one core).
Connections are kept alive after a stream, as Google's are: a gateway's pool reuses them.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
from urllib.parse import urlsplit

import uvloop

PROMPT_WORDS = 200  # the simulator streams a word or more per chunk: room for 64 chunks


def record(simulator: str, key: str, chunks: int) -> tuple[list[bytes], bytes]:
    """The SSE frames of one simulator stream, and its model list's body."""
    parts = urlsplit(simulator)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)
    body = json.dumps({"contents": [{"role": "user", "parts": [{"text": " ".join(["word"] * PROMPT_WORDS)}]}]})
    connection.request("POST", "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", body,
                       {"x-goog-api-key": key, "content-type": "application/json"})  # fmt: skip
    raw = connection.getresponse().read()
    frames = [frame + b"\r\n\r\n" for frame in raw.split(b"\r\n\r\n") if frame.strip()]
    connection.request("GET", "/v1beta/models?pageSize=1000", headers={"x-goog-api-key": key})
    models = connection.getresponse().read()
    connection.close()
    if len(frames) < chunks:
        raise SystemExit(f"the simulator streamed {len(frames)} frames, fewer than {chunks}")
    return frames, models


class Replay:
    def __init__(self, frames: list[bytes], models: bytes, pace: float) -> None:
        self.frames = [b"%x\r\n%s\r\n" % (len(f), f) for f in frames]  # chunked transfer encoding
        self.models = models
        self.pace = pace
        # stream -> index of its next frame, and what its connection's reader waits on until the stream ends
        self.open: dict[asyncio.StreamWriter, tuple[int, asyncio.Future[None]]] = {}

    async def tick(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            next_at += self.pace
            for writer, (index, ended) in list(self.open.items()):
                if index < len(self.frames):
                    writer.write(self.frames[index])
                    self.open[writer] = (index + 1, ended)
                else:
                    del self.open[writer]
                    writer.write(b"0\r\n\r\n")
                    ended.set_result(None)
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target = lines[0].split(" ")[:2]
                fields = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
                length = int(fields.get("content-length", 0))
                if length:
                    await reader.readexactly(length)
                if method == "POST" and ":streamGenerateContent" in target:
                    close = fields.get("connection", "").lower() == "close"  # bench/paced.py's direct streams
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n"
                                 + (b"connection: close\r\n" if close else b"") + b"\r\n" + self.frames[0])  # fmt: skip
                    ended = asyncio.get_running_loop().create_future()
                    self.open[writer] = (1, ended)
                    await ended  # the ticker writes the rest
                    if close:
                        writer.close()
                        return
                    continue  # kept alive, as Google's connections are: the next request
                if method == "GET" and target.startswith("/v1beta/models"):
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                                 % (len(self.models), self.models))  # fmt: skip
                else:
                    writer.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            writer.close()


async def main(args: argparse.Namespace) -> None:
    frames, models = record(args.simulator, args.key, 64)
    replay = Replay(frames, models, args.pace)
    server = await asyncio.start_server(replay.serve, "127.0.0.1", args.port, backlog=4096)
    ticker = asyncio.create_task(replay.tick())
    async with server:
        await server.serve_forever()
    ticker.cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--simulator", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--pace", type=float, default=0.02)
    uvloop.run(main(parser.parse_args()))

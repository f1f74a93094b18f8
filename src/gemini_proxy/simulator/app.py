"""The ASGI application: routing, auth, headers, unary and streamed answers (raw ASGI, for speed)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import orjson

from gemini_proxy.simulator import control, errors
from gemini_proxy.simulator.catalog import Catalog
from gemini_proxy.simulator.config import SimulatorConfig
from gemini_proxy.simulator.faults import FailSpec
from gemini_proxy.simulator.handlers import Caller, Handlers
from gemini_proxy.simulator.streaming import ArrayFramer, ConnectionCut, SseFramer

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON_TYPE = b"application/json; charset=UTF-8"
_COMMON = [
    (b"vary", b"Origin, X-Origin, Referer"),
    (b"server", b"scaffolding on HTTPServer2"),
    (b"x-xss-protection", b"0"),
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"x-content-type-options", b"nosniff"),
    (b"server-timing", b"gfet4t7; dur=1"),
]
_STREAM_METHODS = ("streamGenerateContent",)
_MODEL_METHODS = ("generateContent", "streamGenerateContent", "countTokens", "embedContent", "batchEmbedContents")


def headers(content_type: bytes, length: int | None = None, sse: bool = False) -> list[tuple[bytes, bytes]]:
    out = [(b"content-type", content_type), *_COMMON]
    if sse:
        out.append((b"content-disposition", b"attachment"))
    if length is not None:
        out.append((b"content-length", str(length).encode()))
    return out


async def send_body(send: Send, status: int, body: bytes, content_type: bytes = JSON_TYPE) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers(content_type, len(body))})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def page_size(query: dict[str, list[str]]) -> int | None:
    """The ``pageSize`` query parameter (an int32), None when absent; anything else is Google's 400."""
    raw = query.get("pageSize", [""])[0]
    if not raw:
        return None
    text = raw.strip()
    if re.fullmatch(r"[+-]?\d+", text) and -(2**31) <= int(text) < 2**31:
        return int(text)
    raise errors.violations([("page_size", errors.invalid_value_text("page_size", "TYPE_INT32", raw))])


# Raised while building an answer from odd user data (schemas, args…): Google answers its generic
# 400, never a 500. Checked input should not get here; this is the last line of defence.
_BAD_INPUT = (ValueError, TypeError, LookupError, RecursionError, ArithmeticError)


def parse_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError as exc:
        raise errors.invalid_argument("Invalid JSON payload received. Unexpected token.") from exc


class SimulatorApp:
    """ASGI callable serving Google's v1beta (and v1) Gemini routes plus ``/_sim/`` controls."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.catalog = Catalog()
        self.handlers = Handlers(config, self.catalog)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path.startswith("/_sim/"):
            status, payload = control.handle(self.config, scope["method"], path, await read_body(receive))
            await send_body(send, status, orjson.dumps(payload, option=orjson.OPT_INDENT_2) + b"\n")
            return
        query = parse_qs(scope.get("query_string", b"").decode())
        array_stream = False
        key, model = "", ""
        status = 200
        started = recorded = False

        async def tracked_send(message: Message) -> None:
            # Counted before the last body message goes out: a client that has its answer sees it in the stats.
            nonlocal started, recorded, status
            if message["type"] == "http.response.start":
                started, status = True, message["status"]
            elif not message.get("more_body") and not recorded:
                recorded = True
                self.config.faults.record(key or "(none)", model, status, scope.get("client"))
            await send(message)

        try:
            version, rest = self.split_version(path)
            key = self.api_key(scope, query)
            model, method = self.model_route(rest)
            array_stream = method == "streamGenerateContent" and query.get("alt", [""])[0] != "sse"
            caller = self.authenticate(key, version)
            try:
                status = await self.dispatch(caller, scope["method"], rest, model, method, query, receive, tracked_send)
            except _BAD_INPUT as exc:
                if started:
                    raise
                raise errors.invalid_argument() from exc
        except errors.SimError as err:
            status = err.code
            body = err.array_body() if array_stream else err.body()
            await send_body(tracked_send, err.code, body)
        finally:
            if not recorded:  # a cut connection, or a client that left before its answer
                self.config.faults.record(key or "(none)", model, status, scope.get("client"))

    # --- routing helpers -------------------------------------------------------------

    @staticmethod
    def split_version(path: str) -> tuple[str, str]:
        for version in ("v1beta", "v1"):
            prefix = f"/{version}/"
            if path.startswith(prefix):
                return version, path[len(prefix) :]
        raise errors.SimError(404, "Method not found.")

    @staticmethod
    def model_route(rest: str) -> tuple[str, str]:
        if rest.startswith("models/") and ":" in rest:
            model, method = rest[len("models/") :].rsplit(":", 1)
            return model, method
        if rest.startswith("models/"):
            return rest[len("models/") :], ""
        return "", ""

    @staticmethod
    def api_key(scope: Scope, query: dict[str, list[str]]) -> str:
        for name, value in scope["headers"]:
            if name == b"x-goog-api-key":
                return str(value.decode())
        return query.get("key", [""])[0]

    def authenticate(self, key: str, version: str) -> Caller:
        if not key:
            raise errors.no_key()
        project = self.config.project_of(key)
        if project is None or key in self.config.invalid_keys:
            raise errors.bad_key(key)
        state = self.config.faults.key_state(key, self.config.clock())
        if state is not None and state.state == "invalid":  # marked at run time: refused on every call, like Google
            raise errors.bad_key(key)
        return Caller(key=key, project=project, version=version)

    async def dispatch(
        self, caller: Caller, verb: str, rest: str, model: str, method: str, query: dict[str, list[str]],
        receive: Receive, send: Send,
    ) -> int:
        h = self.handlers
        if method in _MODEL_METHODS and verb == "POST":
            body = parse_json(await read_body(receive))
            return await self.model_call(caller, model, method, body, query, send, receive)
        if rest == "models" and verb == "GET":
            return await self.reply(send, self.catalog.page(page_size(query), query.get("pageToken", [None])[0]))
        if rest.startswith("models/") and not method and verb == "GET":
            return await self.reply(send, self.catalog.get_json(model, caller.version))
        if rest == "cachedContents":
            if verb == "POST":
                return await self.reply(send, h.cache_create(caller, parse_json(await read_body(receive))))
            if verb == "GET":
                return await self.reply(
                    send, h.cache_list(caller, page_size(query), query.get("pageToken", [None])[0]))
        if rest.startswith("cachedContents/"):
            if verb == "GET":
                return await self.reply(send, h.cache_get(caller, rest))
            if verb == "PATCH":
                return await self.reply(send, h.cache_patch(caller, rest, parse_json(await read_body(receive))))
            if verb == "DELETE":
                return await self.reply(send, h.cache_delete(caller, rest))
        if method:
            raise errors.SimError(404, f"Method not found: {method}")
        raise errors.SimError(404, "Method not found.")

    async def reply(self, send: Send, payload: dict[str, Any]) -> int:
        await send_body(send, 200, orjson.dumps(payload, option=orjson.OPT_INDENT_2) + b"\n")
        return 200

    async def model_call(
        self, caller: Caller, model: str, method: str, body: Any, query: dict[str, list[str]], send: Send,
        receive: Receive,
    ) -> int:
        h = self.handlers
        if method == "countTokens":
            result = h.count_tokens(caller, model, body)
            h.admit(caller, model, counted=False, stream=False)
            return await self.reply(send, result)
        if method in ("embedContent", "batchEmbedContents"):
            result = h.embed(caller, model, body, batch=method == "batchEmbedContents")
            h.admit(caller, model, counted=True, stream=False)
            if self.config.first_byte_delay and await client_left(receive, self.config.first_byte_delay):
                return 499
            return await self.reply(send, result)
        info, req = h.prepare(caller, model, body, method)
        stream = method in _STREAM_METHODS
        fault = h.admit(caller, info.id, counted=True, stream=stream)
        plan = h.plan(req)
        if self.config.first_byte_delay and await client_left(receive, self.config.first_byte_delay):
            return 499  # like Google: work for a client that went away stops (CANCELLED)
        if not stream:
            data = orjson.dumps(h.unary(plan), option=orjson.OPT_INDENT_2) + b"\n"
            if fault is not None:
                await send({"type": "http.response.start", "status": 200, "headers": headers(JSON_TYPE, len(data))})
                await send({"type": "http.response.body", "body": data[: len(data) // 2], "more_body": True})
                raise ConnectionCut()
            await send_body(send, 200, data)
            return 200
        sse = query.get("alt", [""])[0] == "sse"
        await self.stream(send, h.chunks(plan), SseFramer() if sse else ArrayFramer(), sse, fault, info.id)
        return 200

    async def stream(
        self, send: Send, chunks: list[dict[str, Any]], framer: SseFramer | ArrayFramer, sse: bool,
        fault: FailSpec | None, model: str,
    ) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": headers(framer.content_type, sse=sse)})
        delay = self.config.chunk_delay
        stop_after = len(chunks)
        if fault is not None:
            stop_after = min(len(chunks), fault.after_chunks if fault.after_chunks is not None else 1)
        for i, chunk in enumerate(chunks[:stop_after]):
            if i and delay:
                await asyncio.sleep(delay)
            await send({"type": "http.response.body", "body": framer.chunk(chunk, i), "more_body": True})
        if fault is not None and fault.mid_stream_error:
            err = self.handlers.injected(fault, model)
            await send({"type": "http.response.body", "body": framer.error(err, stop_after), "more_body": True})
            await send({"type": "http.response.body", "body": framer.end(stop_after + 1)})
            return
        if fault is not None:
            raise ConnectionCut()
        await send({"type": "http.response.body", "body": framer.end(len(chunks))})


async def client_left(receive: Receive, seconds: float) -> bool:
    """Waits ``seconds``, or less if the client disconnects first; True when it did."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (remaining := deadline - loop.time()) > 0:
        try:
            message = await asyncio.wait_for(receive(), timeout=remaining)
        except TimeoutError:
            return False
        if message["type"] == "http.disconnect":
            return True
    return False


def create_app(config: SimulatorConfig) -> SimulatorApp:
    """The simulator as an ASGI application (state lives on ``config``)."""
    return SimulatorApp(config)

"""api/server.py's protocol, driven through a transport that records each write: an answer's head
goes out in the same write as its body (one system call, not two), a stream's head goes out at
once even when its first frame is late, and nothing is reordered or lost on the way (keep-alive,
100-continue, a closed connection). The bounds themselves are tested on a real socket in
tests/e2e/test_connection_limits.py."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httptools
from starlette.types import Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.server import ServerState

from gemini_proxy.api.server import BoundedHttpToolsProtocol

BODY = b'{"model": "gemini-2.5-flash"}'
REQUEST = b"POST /v1/chat/completions HTTP/1.1\r\nhost: proxy\r\ncontent-type: application/json\r\n"
JSON = b'{"object": "chat.completion"}'


def request(*, extra: bytes = b"", body: bytes = BODY) -> bytes:
    return REQUEST + extra + b"content-length: %d\r\n\r\n" % len(body) + body


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:  # type: ignore[override]
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


App = Callable[[Scope, Receive, Send], Awaitable[None]]


def connect(app: App) -> tuple[BoundedHttpToolsProtocol, RecordingTransport]:
    config = Config(app=app, http="httptools", log_config=None, access_log=False, server_header=False)
    config.load()
    protocol = BoundedHttpToolsProtocol(config=config, server_state=ServerState(), app_state={})
    transport = RecordingTransport()
    protocol.connection_made(transport)
    return protocol, transport


class Answers:
    """The client's side: the answers parsed from the bytes written, in order."""

    def __init__(self, data: bytes) -> None:
        self.statuses: list[int] = []
        self.bodies: list[bytes] = []
        self._parser = httptools.HttpResponseParser(self)
        self._parser.feed_data(data)

    def on_headers_complete(self) -> None:
        self.statuses.append(self._parser.get_status_code())
        self.bodies.append(b"")

    def on_body(self, body: bytes) -> None:
        self.bodies[-1] += body


async def json_app(scope: Scope, receive: Receive, send: Send) -> None:
    message = await receive()
    assert message["body"] == BODY
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(JSON))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": JSON})


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_an_answer_goes_out_in_one_write_head_and_body_together() -> None:
    protocol, transport = connect(json_app)
    protocol.data_received(request())
    await settle()
    assert len(transport.writes) == 1
    head, _, body = transport.writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and body == JSON


async def test_keep_alive_answers_each_go_out_in_one_write_in_order() -> None:
    protocol, transport = connect(json_app)
    for _ in range(3):
        protocol.data_received(request())
        await settle()
    assert len(transport.writes) == 3
    answers = Answers(b"".join(transport.writes))
    assert answers.statuses == [200, 200, 200] and answers.bodies == [JSON] * 3
    assert not transport.closed


async def test_a_streams_head_goes_out_before_its_late_first_frame() -> None:
    first_frame = asyncio.Event()

    async def stream_app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        await first_frame.wait()  # Gemini has not answered yet
        await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
        await send({"type": "http.response.body", "body": b"data: 2\n\n", "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    protocol, transport = connect(stream_app)
    protocol.data_received(request())
    await settle()
    assert len(transport.writes) == 1 and transport.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert transport.writes[0].endswith(b"\r\n\r\n")  # the head alone: the client knows the stream began
    first_frame.set()
    await settle()
    answers = Answers(b"".join(transport.writes))
    assert answers.statuses == [200] and answers.bodies == [b"data: 1\n\ndata: 2\n\n"]
    assert len(transport.writes) == 4  # each frame its own write, as it comes


async def test_100_continue_goes_out_before_the_body_and_the_answer_after_it() -> None:
    protocol, transport = connect(json_app)
    protocol.data_received(REQUEST + b"expect: 100-continue\r\ncontent-length: %d\r\n\r\n" % len(BODY))
    await settle()
    assert transport.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]  # the client waits for it to send the body
    protocol.data_received(BODY)
    await settle()
    assert len(transport.writes) == 2  # the answer itself still in one write
    assert transport.writes[1].startswith(b"HTTP/1.1 200 OK\r\n") and transport.writes[1].endswith(JSON)


async def test_a_connection_close_answer_is_sent_whole_before_the_close() -> None:
    protocol, transport = connect(json_app)
    protocol.data_received(request(extra=b"connection: close\r\n"))
    await settle()
    assert transport.closed
    assert len(transport.writes) == 1 and transport.writes[0].endswith(JSON)
    assert b"connection: close" in transport.writes[0]


async def test_a_head_held_when_the_app_closes_the_connection_is_still_sent() -> None:
    async def head_then_fail(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        raise RuntimeError("broke after the head")  # uvicorn logs it and closes the connection

    protocol, transport = connect(head_then_fail)
    protocol.data_received(request())
    await settle()
    assert transport.closed
    assert len(transport.writes) == 1 and transport.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")


async def test_a_refusal_written_past_the_cycle_comes_after_the_held_head() -> None:
    protocol: BoundedHttpToolsProtocol

    async def head_then_more_bytes(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        # In the same turn, before the held head's flush: a pipelined request the bounds refuse.
        protocol.data_received(REQUEST + b"content-length: 99999999999\r\n\r\n")

    protocol, transport = connect(head_then_more_bytes)
    protocol.data_received(request())
    await settle()
    assert transport.closed
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert transport.writes[-1].startswith(b"HTTP/1.1 413 ")


async def test_a_head_answer_and_a_204_go_out_whole() -> None:
    async def no_body(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        status = 204 if scope["method"] == "DELETE" else 200
        headers = [(b"content-length", b"%d" % len(JSON))] if status == 200 else []
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if status == 204 or scope["method"] == "HEAD" else JSON})

    protocol, transport = connect(no_body)
    protocol.data_received(b"HEAD /v1/models HTTP/1.1\r\nhost: proxy\r\n\r\n")
    await settle()
    assert len(transport.writes) == 1 and transport.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert transport.writes[0].endswith(b"\r\n\r\n")  # a head, no body
    protocol.data_received(b"DELETE /v1/responses/r1 HTTP/1.1\r\nhost: proxy\r\n\r\n")
    await settle()
    assert len(transport.writes) == 2 and transport.writes[1].startswith(b"HTTP/1.1 204 No Content\r\n")


async def test_a_shutdown_in_the_turn_of_a_held_head_still_sends_it() -> None:
    async def head_request(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4")]})
        await send({"type": "http.response.body", "body": b""})  # HEAD: the body write is empty
        protocol.shutdown()  # the server stops in this very turn, before the end-of-turn flush

    protocol, transport = connect(head_request)
    protocol.data_received(b"HEAD /health HTTP/1.1\r\nhost: proxy\r\n\r\n")
    await settle()
    assert transport.closed
    assert len(transport.writes) == 1 and transport.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")

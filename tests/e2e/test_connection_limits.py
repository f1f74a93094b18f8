"""What a client can make the proxy hold before any route looks at its request (``api/server.py``):
the request head's size and number of headers (431), the time it takes to arrive (408), and the
connections open at once (503). Raw sockets against a real proxy child process.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import ServerProcess, start_proxy

CHAT = b'{"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}'


@pytest.fixture(scope="module")
def bounded(simulator: ServerProcess) -> Iterator[ServerProcess]:
    proxy = start_proxy(
        simulator.url,
        env={"GEMINI_PROXY_HEADER_TIMEOUT": "1", "GEMINI_PROXY_MAX_CONNECTIONS": "6", "GEMINI_PROXY_MAX_HEADERS": "50"},
    )
    yield proxy
    proxy.stop()


def _connect(server: ServerProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _answer(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return status, headers, body


def _rss_kib(server: ServerProcess) -> int:
    assert server.process is not None
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_one_mebibyte_header_is_refused_with_431_in_the_surface_format(bounded: ServerProcess) -> None:
    with _connect(bounded) as sock:
        request = (b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                   b"x-big: " + b"a" * (1024 * 1024) + b"\r\ncontent-length: %d\r\n\r\n" % len(CHAT) + CHAT)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)
        status, headers, body = _answer(_read_all(sock))
    assert status == 431
    assert headers["connection"] == "close" and headers["x-request-id"]
    error = json.loads(body)["error"]
    assert error["code"] == "request_header_fields_too_large" and "GEMINI_PROXY_MAX_HEADER_BYTES" in error["message"]
    assert bounded.http.get("/health").status_code == 200


def test_a_native_client_gets_google_shape(bounded: ServerProcess) -> None:
    with _connect(bounded) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(b"POST /v1beta/models/gemini-2.5-flash:generateContent HTTP/1.1\r\nhost: x\r\n"
                         b"x-big: " + b"a" * 200_000 + b"\r\n\r\n")  # fmt: skip
        status, _, body = _answer(_read_all(sock))
    assert status == 431
    assert json.loads(body)["error"]["status"] == "INVALID_ARGUMENT"


def test_an_endless_header_is_cut_off_and_memory_stays_flat(bounded: ServerProcess) -> None:
    before = _rss_kib(bounded)
    sent = 0
    with _connect(bounded) as sock:
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nhost: x\r\nx-endless: ")
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            while sent < 200 * 1024 * 1024:
                sock.sendall(b"b" * 65536)
                sent += 65536
        assert sent < 200 * 1024 * 1024, "the proxy kept reading an endless header"
    assert _rss_kib(bounded) - before < 20 * 1024
    assert bounded.http.get("/health").status_code == 200


def test_too_many_headers_is_431(bounded: ServerProcess) -> None:
    headers = {f"x-h{i}": "1" for i in range(60)}
    response = httpx.get(bounded.url + "/v1/models", headers=headers)
    assert response.status_code == 431
    assert "GEMINI_PROXY_MAX_HEADERS" in response.json()["error"]["message"]
    assert httpx.get(bounded.url + "/v1/models", headers=dict(list(headers.items())[:40])).status_code == 200


def test_a_silent_socket_is_closed_after_the_header_timeout(bounded: ServerProcess) -> None:
    with _connect(bounded) as sock:
        started = time.monotonic()
        raw = _read_all(sock)
        waited = time.monotonic() - started
    assert 0.8 < waited < 5
    status, headers, _ = _answer(raw)
    assert status == 408 and headers["connection"] == "close"


def test_a_trickled_header_is_cut_off(bounded: ServerProcess) -> None:
    with _connect(bounded) as sock:
        started = time.monotonic()
        closed = False
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for byte in b"GET /v1/models HTTP/1.1\r\nhost: x\r\nx-slow: " + b"s" * 100:
                sock.sendall(bytes([byte]))
                time.sleep(0.1)
                sock.settimeout(0.001)
                try:
                    if sock.recv(65536):
                        closed = True
                        break
                except TimeoutError:
                    pass
                finally:
                    sock.settimeout(10)
        assert closed or sock.recv(65536)  # the 408 came
        assert time.monotonic() - started < 5


def test_past_the_connection_limit_a_new_connection_gets_503(bounded: ServerProcess) -> None:
    held = [_connect(bounded) for _ in range(6)]
    try:
        time.sleep(0.2)  # the proxy has accepted them
        with _connect(bounded) as extra:
            status, headers, body = _answer(_read_all(extra))
        assert status == 503 and headers["connection"] == "close"
        assert "Too many connections" in json.loads(body)["error"]["message"]
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.2)
    assert bounded.http.get("/health").status_code == 200


def test_keep_alive_requests_are_not_affected(bounded: ServerProcess) -> None:
    with httpx.Client(base_url=bounded.url) as client:
        for _ in range(3):
            response = client.post("/v1/chat/completions", content=CHAT, headers={"content-type": "application/json"})
            assert response.status_code == 200
            time.sleep(1.5)  # idle between requests is uvicorn's keep-alive, not the header timeout


@pytest.mark.parametrize("length", [b"1000000000000", b"67108865", b"9999999999999999999"])
def test_a_content_length_over_the_limit_is_413_before_the_body(bounded: ServerProcess, length: bytes) -> None:
    with _connect(bounded) as sock:
        started = time.monotonic()
        # No body follows, and the client waits for a 100 Continue: the answer must come from the head alone.
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                     b"expect: 100-continue\r\ncontent-length: " + length + b"\r\n\r\n")  # fmt: skip
        status, headers, body = _answer(_read_all(sock))
    assert time.monotonic() - started < 0.9  # not the header timeout's 408
    assert status == 413 and headers["connection"] == "close"
    error = json.loads(body)["error"]
    assert error["code"] == "request_too_large" and "GEMINI_PROXY_MAX_REQUEST_BYTES" in error["message"]


def test_a_body_at_the_limit_is_read(bounded: ServerProcess) -> None:
    response = bounded.http.post("/v1/chat/completions", content=CHAT, headers={"content-type": "application/json"})
    assert response.status_code == 200

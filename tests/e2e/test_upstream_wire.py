"""What the proxy sends upstream: pool keys in x-goog-api-key, never in a URL; client tokens never."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.servers import start_proxy

ANSWER = {
    "candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP", "index": 0}],
    "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1, "totalTokenCount": 2},
    "modelVersion": "gemini-2.5-flash",
    "responseId": "rec-1",
}


class Recorder(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []


class _Handler(BaseHTTPRequestHandler):
    server: Recorder

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        data = json.dumps(ANSWER).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json; charset=UTF-8")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def test_keys_travel_in_the_header_only(recorder: Recorder) -> None:
    upstream = f"http://127.0.0.1:{recorder.server_address[1]}/v1beta"  # a trailing /v1beta is accepted too
    proxy = start_proxy(upstream, keys=["pool-key-A"], env={"GEMINI_PROXY_AUTH_TOKENS": "client-secret"})
    try:
        chat = httpx.post(
            proxy.url + "/v1/chat/completions",
            json={"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]},
            headers={"authorization": "Bearer client-secret"},
        )
        assert chat.status_code == 200, chat.text
        native = httpx.post(
            proxy.url + "/v1beta/models/gemini-2.5-flash:generateContent?key=client-secret",
            content=b'{"contents": [{"parts": [{"text": "hi"}]}], "someFutureField": {"x": 1}}',
        )
        assert native.status_code == 200, native.text
    finally:
        proxy.stop()
    assert len(recorder.seen) == 2
    for method, path, headers, _ in recorder.seen:
        assert method == "POST"
        assert path.startswith("/v1beta/models/gemini-2.5-flash:generateContent")
        assert "key=" not in path
        assert headers["x-goog-api-key"] == "pool-key-A"
        assert headers["content-type"] == "application/json"
        assert "client-secret" not in json.dumps(headers)
        assert "authorization" not in headers
    # The native body reached Google byte for byte, unknown fields included.
    assert recorder.seen[1][3] == b'{"contents": [{"parts": [{"text": "hi"}]}], "someFutureField": {"x": 1}}'
    assert "pool-key-A" not in proxy.log()

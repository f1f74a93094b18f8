"""CORS in a real browser (Debian's Chromium, driven by Playwright, as in ``test_dashboard.py``): a
page served from another origin calls a proxy child process with ``fetch``, with a client token
in ``Authorization`` (so Chromium sends a preflight first), once for an answer and once for a
stream read chunk by chunk. Without ``GEMINI_PROXY_CORS_ORIGINS`` the same page's ``fetch`` fails.
"""

from __future__ import annotations

import http.server
import os
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.e2e.test_dashboard import CHROMIUM, CHROMIUM_ARGS
from tests.servers import ServerProcess, free_port, start_proxy

TOKEN = "cors-browser-token"

CALL = """async ([url, token, stream]) => {
  const body = {model: "gemini-2.5-flash", stream, messages: [{role: "user", content: "Say hello"}]};
  try {
    const response = await fetch(url + "/v1/chat/completions", {
      method: "POST",
      headers: {"Authorization": "Bearer " + token, "Content-Type": "application/json"},
      body: JSON.stringify(body),
    });
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let text = "", reads = 0;
    for (;;) {
      const {done, value} = await reader.read();
      if (done) break;
      reads += 1;
      text += decoder.decode(value, {stream: true});
    }
    return {status: response.status, text, reads, requestId: response.headers.get("x-request-id")};
  } catch (error) {
    return {error: String(error)};
  }
}"""


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>another origin</title><p>app</p>"
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def page_origin() -> Iterator[str]:
    """A page on its own port of loopback: another origin than the proxy's."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def page(page_origin: str) -> Iterator[Page]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail("chromium is missing: scripts/test.sh installs it (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser: Browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(page_origin + "/")
        yield page
        browser.close()


def _proxy(sim: ServerProcess, **env: str) -> ServerProcess:
    return start_proxy(sim.url, env={"GEMINI_PROXY_AUTH_TOKENS": TOKEN, **env})


def test_a_page_on_another_origin_calls_the_proxy(page: Page, page_origin: str, sim: ServerProcess) -> None:
    httpx.post(sim.url + "/_sim/config", json={"stream_chunks": 6, "chunk_delay": 0.05}).raise_for_status()
    proxy = _proxy(sim, GEMINI_PROXY_CORS_ORIGINS=page_origin)
    try:
        answer = page.evaluate(CALL, [proxy.url, TOKEN, False])
        assert answer.get("status") == 200, answer
        assert '"chat.completion"' in answer["text"]
        streamed = page.evaluate(CALL, [proxy.url, TOKEN, True])
        assert streamed.get("status") == 200, streamed
        assert streamed["text"].rstrip().endswith("data: [DONE]")
        assert streamed["text"].count("chat.completion.chunk") >= 2
        assert streamed["reads"] >= 2  # read as it came, not as one body
    finally:
        proxy.stop()


def test_without_the_setting_the_browser_refuses(page: Page, sim: ServerProcess) -> None:
    proxy = _proxy(sim)
    try:
        answer = page.evaluate(CALL, [proxy.url, TOKEN, False])
        assert "error" in answer and "Failed to fetch" in answer["error"], answer
    finally:
        proxy.stop()

"""Images fetched from URLs (limits, SSRF guard), and context caches used from the OpenAI surface."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import openai
import pytest
from google import genai
from google.genai import types

from tests.inprocess import Local, LocalServer
from tests.servers import ServerProcess

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


class _Images(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/pixel.png":
            self.send_response(200)
            self.send_header("content-type", "image/png")
            self.send_header("content-length", str(len(PNG)))
            self.end_headers()
            self.wfile.write(PNG)
        elif self.path == "/huge.png":
            self.send_response(200)
            self.send_header("content-type", "image/png")
            self.end_headers()
            self.wfile.write(b"\0" * 4096)
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("location", "/pixel.png")
            self.end_headers()
        else:
            self.send_response(404)
            self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def images() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Images)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def ask_about(proxy: ServerProcess | LocalServer, url: str) -> httpx.Response:
    return proxy.http.post(
        "/v1/chat/completions",
        json={
            "model": "gemini-2.5-flash",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is in it?"},
                        {"type": "image_url", "image_url": {"url": url}},
                    ],
                }
            ],
        },
        timeout=30,
    )


def test_image_urls_are_fetched_within_limits_when_allowed(local: Local, images: str) -> None:
    # The proxy and the simulator in process; the images come from a real server on loopback.
    proxy = local.proxy(local.simulator(), allow_private_media_urls=True, media_max_bytes=1000)
    fetched = ask_about(proxy, images + "/pixel.png")
    assert fetched.status_code == 200, fetched.text
    # The image reached Gemini as a part: it costs prompt tokens beyond the text's.
    text_only = proxy.http.post(
        "/v1/chat/completions",
        json={"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "What is in it?"}]},
    ).json()
    assert fetched.json()["usage"]["prompt_tokens"] > text_only["usage"]["prompt_tokens"]
    assert ask_about(proxy, images + "/redirect").status_code == 200
    assert ask_about(proxy, images.replace("http://", "HTTP://") + "/pixel.png").status_code == 200
    too_big = ask_about(proxy, images + "/huge.png")
    assert too_big.status_code == 400 and "larger than 1000 bytes" in too_big.json()["error"]["message"]
    missing = ask_about(proxy, images + "/nothing.png")
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "messages[0].content[1].image_url"


@pytest.mark.parametrize("url", ["http://[::1", "http://exa mple.com/x.png", "ftp://example.com/x.png"])
def test_malformed_image_urls_are_a_400(proxy: ServerProcess, url: str) -> None:
    response = ask_about(proxy, url)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "messages[0].content[1].image_url"


@pytest.mark.parametrize("path", ["/pixel.png", "/redirect"])
def test_private_addresses_are_refused_by_default(proxy: ServerProcess, images: str, path: str) -> None:
    upper_case = images.replace("http://", "HTTP://")  # schemes are case-insensitive; the guard still holds
    for url in (images + path, images.replace("127.0.0.1", "localhost") + path, upper_case + path):
        refused = ask_about(proxy, url)
        assert refused.status_code == 400
        assert "private or local address" in refused.json()["error"]["message"]


def test_cached_content_from_the_openai_surface(proxy: ServerProcess, sim: ServerProcess) -> None:
    native = genai.Client(api_key="x", http_options=types.HttpOptions(base_url=proxy.url))
    cache = native.caches.create(
        model="gemini-2.5-flash",
        config=types.CreateCachedContentConfig(contents=["a long shared document " * 20], ttl="300s"),
    )
    client = openai.OpenAI(base_url=proxy.url + "/v1", api_key="x", max_retries=0)
    for _ in range(4):  # every request must reach the key (project) that owns the cache
        reply = client.chat.completions.create(
            model="gemini-2.5-flash",
            messages=[{"role": "user", "content": "about the document?"}],
            extra_body={"google": {"cached_content": cache.name}},
        )
        assert reply.usage is not None and reply.usage.prompt_tokens_details is not None
        assert reply.usage.prompt_tokens_details.cached_tokens > 0
    stats = httpx.get(sim.url + "/_sim/stats").json()
    chats = {k: v for k, v in stats["by_key_model"].items() if k.endswith("|gemini-2.5-flash")}
    assert list(chats.values()) == [4], chats  # the 4 chats, all on one key...
    (owner,) = [k.split("|")[0] for k in chats]
    assert stats["by_key"][owner] == 5  # ...the one that also created the cache

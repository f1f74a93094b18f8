"""Images fetched from URLs (limits, SSRF guard), and context caches used from the OpenAI surface."""

from __future__ import annotations

import asyncio
import base64
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import openai
import pytest
from google import genai
from google.genai import types

from gemini_proxy.errors import InvalidRequest
from gemini_proxy.media import MediaFetcher, is_public_address
from tests.inprocess import Local, LocalServer
from tests.servers import ServerProcess

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


class _Images(BaseHTTPRequestHandler):
    requests = 0  # GETs served, for the tests that check that nothing was fetched

    def do_GET(self) -> None:
        type(self).requests += 1
        if self.path.startswith("/big.png"):  # 4 KiB of a PNG, whatever the query string
            body = PNG + b"\0" * (4096 - len(PNG))
            self.send_response(200)
            self.send_header("content-type", "image/png")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/pixel.png":
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


def ask_about(proxy: ServerProcess | LocalServer, url: str, *more: str) -> httpx.Response:
    images = [{"type": "image_url", "image_url": {"url": u}} for u in (url, *more)]
    return proxy.http.post(
        "/v1/chat/completions",
        json={
            "model": "gemini-2.5-flash",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "What is in it?"}, *images]}],
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


def _loopback_spellings(images: str) -> list[str]:
    """Ways to write 127.0.0.1 that a name check misses: the HTTP library normalises the
    Unicode forms (IDNA) to 127.0.0.1, the numeric ones are resolved by getaddrinfo."""
    port = images.rsplit(":", 1)[1]
    forms = ["１２７.０.０.１", "127。0。0。1", "①②⑦.0.0.1", "ｌｏｃａｌｈｏｓｔ", "0x7f.0.0.1"]
    try:  # the machine's own name, when it resolves to loopback (it does on most hosts)
        if not is_public_address(socket.gethostbyname(socket.gethostname())):
            forms.append(socket.gethostname())
    except OSError:
        pass
    return [f"http://{host}:{port}/pixel.png" for host in forms]


def test_unicode_and_numeric_spellings_of_loopback_are_refused(proxy: ServerProcess, images: str) -> None:
    for url in _loopback_spellings(images):
        refused = ask_about(proxy, url)
        assert refused.status_code == 400, (url, refused.text)
        error = refused.json()["error"]
        assert "private or local address" in error["message"], (url, error)
        assert error["param"] == "messages[0].content[1].image_url"


class _Redirector(BaseHTTPRequestHandler):
    target = ""

    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("location", (self.target + self.path).encode().decode("latin-1"))  # UTF-8 on the wire
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_redirects_to_a_private_address_are_refused(images: str) -> None:
    # The fetcher, told that 127.0.0.2 is public (the seam a test has: every loopback address is
    # private), fetches from it but follows none of its redirects to 127.0.0.1, however spelled.
    port = images.rsplit(":", 1)[1]
    redirector = ThreadingHTTPServer(("127.0.0.2", 0), _Redirector)
    threading.Thread(target=redirector.serve_forever, daemon=True).start()
    public = f"http://127.0.0.2:{redirector.server_address[1]}"

    def is_public(address: str) -> bool:
        return address == "127.0.0.2" or is_public_address(address)

    async def fetch(url: str) -> tuple[str, str] | str:
        fetcher = MediaFetcher(max_bytes=10_000, timeout=5, allow_private=False, is_public=is_public)
        try:
            return await fetcher.fetch(url, "p")
        except InvalidRequest as exc:
            return str(exc)
        finally:
            await fetcher.close()

    try:
        for host in ("127.0.0.1", "１２７.０.０.１", "127。0。0。1", "localhost"):
            _Redirector.target = f"http://{host}:{port}"
            assert "private or local address" in str(asyncio.run(fetch(public + "/pixel.png"))), host
        _Redirector.target = public  # a redirect loop on the "public" server: it is fetched, then stopped
        assert "Too many redirects" in str(asyncio.run(fetch(public + "/pixel.png")))
    finally:
        redirector.shutdown()
        redirector.server_close()


def test_media_urls_per_request_are_capped_before_anything_is_fetched(local: Local, images: str) -> None:
    proxy = local.proxy(local.simulator(), allow_private_media_urls=True)
    urls = [f"{images}/big.png?n={n}" for n in range(101)]  # the default cap is 100
    _Images.requests = 0
    refused = ask_about(proxy, *urls)
    assert refused.status_code == 400, refused.text
    assert "GEMINI_PROXY_MEDIA_MAX_URLS" in refused.json()["error"]["message"]
    assert "100" in refused.json()["error"]["message"]
    assert _Images.requests == 0
    assert ask_about(proxy, *urls[:100]).status_code == 200
    assert _Images.requests == 100
    # The Anthropic surface refuses in its own shape.
    blocks = [{"type": "image", "source": {"type": "url", "url": u}} for u in urls]
    anthropic = proxy.http.post(
        "/v1/messages",
        json={"model": "gemini-2.5-flash", "max_tokens": 10, "messages": [{"role": "user", "content": blocks}]},
    )
    assert anthropic.status_code == 400 and anthropic.json()["type"] == "error", anthropic.text
    assert "GEMINI_PROXY_MEDIA_MAX_URLS" in anthropic.json()["error"]["message"]
    assert _Images.requests == 100


def test_media_bytes_per_request_are_capped(local: Local, images: str) -> None:
    # Each image is 4 KiB and within the per-URL limit; five of them are over 10,000 bytes together.
    proxy = local.proxy(local.simulator(), allow_private_media_urls=True, media_max_total_bytes=10_000)
    assert ask_about(proxy, f"{images}/big.png?n=1", f"{images}/big.png?n=2").status_code == 200
    refused = ask_about(proxy, *(f"{images}/big.png?n={n}" for n in range(5)))
    assert refused.status_code == 413, refused.text
    error = refused.json()["error"]
    assert "GEMINI_PROXY_MEDIA_MAX_TOTAL_BYTES" in error["message"] and "10000" in error["message"]

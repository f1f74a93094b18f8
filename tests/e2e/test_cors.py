"""CORS (``GEMINI_PROXY_CORS_ORIGINS``): a browser's preflight is answered without a client token,
and every surface's answers to an allowed origin carry ``Access-Control-*`` headers, streams and
errors included. In process (``tests.inprocess``); ``test_cors_browser.py`` does it from a page.
"""

from __future__ import annotations

from collections.abc import Iterator

import anyio.from_thread
import httpx
import pytest

from gemini_proxy.config import SettingsError, load_settings
from tests.inprocess import Local, LocalServer

TOKEN = "cors-client-token"
APP = "http://app.example:3000"
AUTH = {"authorization": f"Bearer {TOKEN}", "origin": APP}
CHAT = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}
GEN = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
MESSAGES = {"model": "claude-sonnet-4-5", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
PREFLIGHT = {
    "origin": APP,
    "access-control-request-method": "POST",
    "access-control-request-headers": "authorization,content-type",
}


@pytest.fixture(scope="module")
def proxy(portal: anyio.from_thread.BlockingPortal) -> Iterator[LocalServer]:
    local = Local(portal)
    try:
        yield local.proxy(local.simulator(), auth_tokens=TOKEN, cors_origins=f"{APP}, https://other.example/")
    finally:
        local.close()


@pytest.mark.parametrize(
    "path",
    ["/v1/chat/completions", "/v1/messages", "/v1/responses", "/v1beta/models/gemini-2.5-flash:generateContent"],
)
def test_preflight_is_answered_without_a_token(proxy: LocalServer, path: str) -> None:
    response = proxy.http.options(path, headers=PREFLIGHT)
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == APP
    assert "POST" in response.headers["access-control-allow-methods"]
    assert response.headers["access-control-allow-headers"] == "authorization,content-type"
    assert int(response.headers["access-control-max-age"]) > 0


def test_preflight_from_another_origin_is_refused(proxy: LocalServer) -> None:
    response = proxy.http.options("/v1/chat/completions", headers={**PREFLIGHT, "origin": "https://evil.example"})
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


def _cors(headers: httpx.Headers) -> str | None:
    return headers.get("access-control-allow-origin")


def test_every_surface_answers_with_cors_headers(proxy: LocalServer) -> None:
    answers = [
        proxy.http.post("/v1/chat/completions", json=CHAT, headers=AUTH),
        proxy.http.post("/v1/chat/completions", json={**CHAT, "stream": True}, headers=AUTH),
        proxy.http.post("/v1/messages", json=MESSAGES, headers=AUTH),
        proxy.http.post("/v1/messages", json={**MESSAGES, "stream": True}, headers=AUTH),
        proxy.http.post("/v1/responses", json={"model": "gemini-2.5-flash", "input": "hi"}, headers=AUTH),
        proxy.http.post(
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent", params={"alt": "sse"}, json=GEN, headers=AUTH
        ),
        proxy.http.post("/v1beta/models/gemini-2.5-flash:generateContent", json=GEN, headers=AUTH),
        proxy.http.get("/v1/models", headers=AUTH),
        proxy.http.post("/api/gemini/generate", json={"prompt": "hi"}, headers=AUTH),
    ]
    for response in answers:
        assert response.status_code == 200, (response.request.url, response.text)
        assert _cors(response.headers) == APP, response.request.url
        assert "x-request-id" in response.headers["access-control-expose-headers"]
    assert "text/event-stream" in answers[1].headers["content-type"]
    assert "data: [DONE]" in answers[1].text


def test_errors_carry_cors_headers_so_the_page_can_read_them(proxy: LocalServer) -> None:
    refused = proxy.http.post("/v1/chat/completions", json=CHAT, headers={"origin": APP})
    assert refused.status_code == 401
    assert _cors(refused.headers) == APP
    bad = proxy.http.post("/v1/chat/completions", content=b"{", headers=AUTH)
    assert bad.status_code == 400
    assert _cors(bad.headers) == APP
    missing = proxy.http.get("/v1/nothing-here", headers=AUTH)
    assert missing.status_code == 404
    assert _cors(missing.headers) == APP


def test_other_origins_and_same_origin_requests_get_no_cors_headers(proxy: LocalServer) -> None:
    other = proxy.http.post("/v1/chat/completions", json=CHAT, headers={**AUTH, "origin": "https://evil.example"})
    assert other.status_code == 200
    assert _cors(other.headers) is None
    plain = proxy.http.post("/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {TOKEN}"})
    assert _cors(plain.headers) is None
    # The second configured origin was written with a trailing slash; browsers send none.
    second = proxy.http.post("/v1/chat/completions", json=CHAT, headers={**AUTH, "origin": "https://other.example"})
    assert _cors(second.headers) == "https://other.example"


def test_without_the_setting_there_is_no_cors(local: Local) -> None:
    proxy = local.proxy(local.simulator())
    preflight = proxy.http.options("/v1/chat/completions", headers=PREFLIGHT)
    assert preflight.status_code == 405
    assert _cors(preflight.headers) is None
    answer = proxy.http.post("/v1/chat/completions", json=CHAT, headers={"origin": APP})
    assert answer.status_code == 200
    assert _cors(answer.headers) is None


def test_any_origin(local: Local) -> None:
    proxy = local.proxy(local.simulator(), cors_origins="*")
    preflight = proxy.http.options("/v1/chat/completions", headers={**PREFLIGHT, "origin": "https://a.example"})
    assert preflight.status_code == 200
    assert _cors(preflight.headers) == "*"
    answer = proxy.http.post("/v1/chat/completions", json=CHAT, headers={"origin": "https://b.example"})
    assert _cors(answer.headers) == "*"


@pytest.mark.parametrize("value", ["app.example", "https://app.example/path", "ftp://app.example"])
def test_a_malformed_origin_stops_start_up(value: str) -> None:
    with pytest.raises(SettingsError, match="GEMINI_PROXY_CORS_ORIGINS"):
        load_settings(cors_origins=value, _env_file=None)

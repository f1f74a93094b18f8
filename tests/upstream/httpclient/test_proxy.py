"""Outbound proxies: the pool's connections through a real forward proxy (Debian's tinyproxy), a
CONNECT tunnel with plain HTTP or TLS inside it; credentials that never reach a message."""

from __future__ import annotations

import ssl

import pytest
import trustme

from gemini_proxy.upstream.http import HttpError
from gemini_proxy.upstream.http.proxy import ProxyURL
from tests.servers import PROXY_PASSWORD as PASSWORD
from tests.servers import PROXY_USER, ForwardProxy, free_port
from tests.upstream.httpclient.rawserver import OK, answering, get, serve


async def test_requests_go_through_one_tunnel_and_reuse_it(forward: ForwardProxy) -> None:
    async with serve(answering(OK), proxy=ProxyURL.parse(forward.url)) as (server, pool):
        for _ in range(3):
            response = await pool.request("POST", "/v1beta/models/m:generateContent", [], b"{}")
            assert (response.status, await response.read()) == (200, b"ok")
        assert forward.tunnels() == [f"127.0.0.1:{server.port}"], "one tunnel, kept alive"
        assert server.connections == 1
        # Inside the tunnel the request is the client's own, in origin form: the proxy saw only host:port.
        assert server.requests[0].startswith(b"POST /v1beta/models/m:generateContent HTTP/1.1\r\n")


async def test_tls_inside_the_tunnel_is_verified_end_to_end(forward: ForwardProxy) -> None:
    ca = trustme.CA()
    server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ssl)
    client_ssl = ssl.create_default_context()
    ca.configure_trust(client_ssl)
    options = {"proxy": ProxyURL.parse(forward.url), "ssl_context": client_ssl}
    async with serve(answering(OK), server_ssl=server_ssl, **options) as (server, pool):
        assert await get(pool) == (200, b"ok")
        assert forward.tunnels() == [f"127.0.0.1:{server.port}"]
    untrusted = ssl.create_default_context()
    trustme.CA().configure_trust(untrusted)  # another CA: the certificate seen through the tunnel is refused
    async with serve(answering(OK), server_ssl=server_ssl, proxy=options["proxy"], ssl_context=untrusted) as (
        server,
        pool,
    ):
        with pytest.raises(HttpError, match="through the outbound proxy"):
            await get(pool)
        assert server.requests == []


async def test_credentials_are_sent_to_the_proxy_and_shown_nowhere(guarded: ForwardProxy) -> None:
    proxy = ProxyURL.parse(guarded.url)
    assert PASSWORD not in repr(proxy) and PASSWORD not in proxy.shown
    async with serve(answering(OK), proxy=proxy) as (_, pool):
        assert await get(pool) == (200, b"ok")
    wrong = ProxyURL.parse(guarded.url.replace(PASSWORD, "not-the-password"))
    async with serve(answering(OK), proxy=wrong) as (server, pool):
        with pytest.raises(HttpError) as refused:
            await get(pool)
        assert "refused the credentials (40" in str(refused.value)
        assert "not-the-password" not in str(refused.value) and PROXY_USER not in str(refused.value)
        assert server.connections == 0
    assert PASSWORD not in guarded.log()
    async with serve(answering(OK), proxy=ProxyURL(proxy.host, proxy.port)) as (_, pool):
        with pytest.raises(HttpError, match="asks for credentials"):
            await get(pool)


async def test_a_proxy_that_is_down_or_cannot_reach_the_upstream(forward: ForwardProxy) -> None:
    down = ProxyURL.parse(f"http://alice:{PASSWORD}@127.0.0.1:{free_port()}")
    async with serve(answering(OK), proxy=down) as (server, pool):
        with pytest.raises(HttpError, match=r"cannot connect to the outbound proxy http://127\.0\.0\.1:\d+$") as failed:
            await get(pool)
        assert PASSWORD not in str(failed.value)
        assert server.connections == 0
    closed_port = free_port()
    async with serve(answering(OK), proxy=ProxyURL.parse(forward.url)) as (_, pool):
        pool.port = closed_port  # an upstream nothing listens on: the proxy cannot open the tunnel
        with pytest.raises(HttpError, match=f"refused the tunnel to 127.0.0.1:{closed_port}"):
            await get(pool)


@pytest.mark.parametrize(
    ("url", "shown", "authorization"),
    [
        ("http://proxy.corp:3128", "http://proxy.corp:3128", None),
        ("proxy.corp:3128", "http://proxy.corp:3128", None),
        ("http://proxy.corp", "http://proxy.corp:80", None),
        ("http://al%40ce:p%3Ass@10.0.0.2:8080/", "http://10.0.0.2:8080", "Basic YWxAY2U6cDpzcw=="),
        ("http://[::1]:3128", "http://[::1]:3128", None),
    ],
)
def test_proxy_urls(url: str, shown: str, authorization: str | None) -> None:
    proxy = ProxyURL.parse(url)
    assert (proxy.shown, proxy.authorization) == (shown, authorization)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (f"https://bob:{PASSWORD}@proxy.corp:3128", "must be an http:// URL, not https://"),
        (f"socks5://bob:{PASSWORD}@proxy.corp:1080", "not socks5://"),
        (f"http://bob:{PASSWORD}@proxy.corp:port", "the port is not a number"),
        (f"http://bob:{PASSWORD}@:3128", "no host"),
        (f"http://bob:{PASSWORD}@proxy.corp:3128/path", "no path or query"),
    ],
)
def test_bad_proxy_urls_are_refused_without_their_password(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        ProxyURL.parse(url)
    assert PASSWORD not in str(refused.value)

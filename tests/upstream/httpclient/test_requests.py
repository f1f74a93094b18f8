"""The request on the wire and keep-alive: what the server receives, which connection carries it."""

from __future__ import annotations

import asyncio

import pytest

from gemini_proxy.upstream.client import GeminiClient
from gemini_proxy.upstream.http import HttpError
from gemini_proxy.upstream.keys import ApiKey
from tests.upstream.httpclient.rawserver import OK, SECRET, Peer, answering, eventually, get, pool_is_empty, serve

# -- the request on the wire ---------------------------------------------------------------


async def test_request_bytes() -> None:
    async with serve(answering(OK), path="/base/") as (server, pool):
        headers = [("x-goog-api-key", SECRET), ("content-type", "application/json")]
        response = await pool.request("POST", "/v1beta/models/m:generateContent?alt=sse", headers, b'{"a":1}')
        assert (response.status, await response.read()) == (200, b"ok")
        assert await get(pool, "/v1beta/models") == (200, b"ok")
        host = f"127.0.0.1:{server.port}".encode()
        assert server.requests == [
            b"POST /base/v1beta/models/m:generateContent?alt=sse HTTP/1.1\r\nhost: " + host + b"\r\n"
            b"user-agent: gemini-proxy\r\nx-goog-api-key: " + SECRET.encode() + b"\r\n"
            b"content-type: application/json\r\ncontent-length: 7\r\n\r\n" + b'{"a":1}',
            b"GET /base/v1beta/models HTTP/1.1\r\nhost: " + host + b"\r\nuser-agent: gemini-proxy\r\n\r\n",
        ]


async def test_gemini_client_sends_the_key_in_a_header_only() -> None:
    async with serve(answering(OK)) as (server, pool):
        answer = await GeminiClient(pool).send(ApiKey(SECRET), "GET", "/v1beta/models", query={"pageSize": "1"})
        assert (answer.status, await answer.read()) == (200, b"ok")
        request_line, *header_lines = server.requests[0].split(b"\r\n")
        assert request_line == b"GET /v1beta/models?pageSize=1 HTTP/1.1"
        assert b"x-goog-api-key: " + SECRET.encode() in header_lines


async def test_request_target_is_quoted_and_line_breaks_in_headers_refused() -> None:
    async with serve(answering(OK)) as (server, pool):
        for target, sent in [
            ("/models/a b:gen\r\nx-evil: 1?alt=sse", b"/models/a%20b:gen%0D%0Ax-evil:%201?alt=sse"),
            ("/models/\u00e9\t", b"/models/%C3%A9%09"),
            ("/files/a%2Fb?q=%20&k=v", b"/files/a%2Fb?q=%20&k=v"),  # already encoded: left alone
            ("/models/a#b", b"/models/a%23b"),  # a fragment has no place in a request
        ]:
            assert await get(pool, target) == (200, b"ok")
            assert server.requests[-1].split(b"\r\n")[0] == b"GET " + sent + b" HTTP/1.1"
        for headers in ([("x-goog-api-key", SECRET + "\r\nx-evil: 1")], [("x-a\nx-evil", "1")], [("x-a", "1\r")]):
            with pytest.raises(ValueError, match="line break") as info:
                await pool.request("GET", "/x", headers)
            assert SECRET not in str(info.value)
        assert len(server.requests) == 4


async def test_a_post_without_body_says_content_length_zero() -> None:
    async with serve(answering(OK)) as (server, pool):
        response = await pool.request("POST", "/v1beta/cachedContents/x:refresh", [])
        assert (response.status, await response.read()) == (200, b"ok")
        assert server.requests[0].endswith(b"\r\ncontent-length: 0\r\n\r\n")


# -- keep-alive ------------------------------------------------------------------------------


async def test_sequential_requests_reuse_one_connection() -> None:
    async with serve(answering(OK)) as (server, pool):
        for _ in range(3):
            assert await get(pool) == (200, b"ok")
        assert server.connections == 1
        assert pool.idle_count == 1


async def test_concurrent_requests_open_separate_connections() -> None:
    both = asyncio.Event()
    arrived = 0

    async def handler(peer: Peer) -> None:
        nonlocal arrived
        while await peer.request() is not None:
            arrived += 1
            if arrived == 2:
                both.set()
            await both.wait()  # neither is answered before both are in flight
            await peer.send(OK)

    async with serve(handler) as (server, pool):
        assert list(await asyncio.gather(get(pool), get(pool))) == [(200, b"ok")] * 2
        assert server.connections == 2
        assert await get(pool) == (200, b"ok")
        assert server.connections == 2


async def test_connection_close_answer_is_not_reused() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok")
        await peer.eof()  # the client must close it: the server does not

    async with serve(handler) as (server, pool):
        assert await get(pool) == (200, b"ok")
        await server.client_closed(1)
        assert await get(pool) == (200, b"ok")
        assert server.connections == 2


async def test_idle_connections_expire_and_max_idle_is_kept() -> None:
    async with serve(answering(OK), keepalive_expiry=0.0) as (server, pool):
        assert await get(pool) == (200, b"ok")
        assert await get(pool) == (200, b"ok")
        assert server.connections == 2
        await server.client_closed(1)  # the expired one was closed, not left open

    both = asyncio.Event()

    async def handler(peer: Peer) -> None:
        while await peer.request() is not None:
            if peer.index == 2:
                both.set()
            await both.wait()
            await peer.send(OK)

    async with serve(handler, max_idle=1) as (server, pool):
        await asyncio.gather(get(pool), get(pool))
        assert pool.idle_count == 1
        await eventually(lambda: sum(peer.closed_by_client.is_set() for peer in server.peers) == 1)


async def test_a_bursts_connections_are_all_kept_for_the_next_burst() -> None:
    burst = 300  # more than the 256 idle connections the pool used to keep
    arrived = asyncio.Event()

    async def handler(peer: Peer) -> None:
        while await peer.request() is not None:
            if len(server.peers) == burst:
                arrived.set()
            await arrived.wait()  # every request of the burst is in flight at once
            await peer.send(OK)

    async with serve(handler, max_connections=1000) as (server, pool):
        await asyncio.gather(*(get(pool) for _ in range(burst)))
        assert pool.idle_count == burst
        await asyncio.gather(*(get(pool) for _ in range(burst)))  # the next burst: no new connection
        assert server.connections == burst


async def test_idle_connection_closed_by_the_server_is_replaced() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.send(OK)  # then closes: an idle timeout on the server's side

    async with serve(handler) as (server, pool):
        assert await get(pool) == (200, b"ok")
        await eventually(lambda: not pool.idle_count)  # the pool noticed and let it go
        assert await get(pool) == (200, b"ok")
        assert server.connections == 2


async def test_pooled_connection_closed_as_the_request_arrives_is_retried_on_a_new_one() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.send(OK)
        if peer.index == 1:
            await peer.request()  # ... and closes without an answer: the race with an idle timeout
            return
        while await peer.request() is not None:
            await peer.send(OK)

    async with serve(handler) as (server, pool):
        assert await get(pool) == (200, b"ok")
        assert await get(pool) == (200, b"ok")
        assert server.connections == 2
        assert len(server.requests) == 3  # sent twice: once on the dead connection, once on a new one


async def test_retry_after_a_dead_pooled_connection_uses_a_new_one() -> None:
    """When a server restarts, every pooled connection is dead: the one retry must not take another."""
    both = asyncio.Event()

    async def handler(peer: Peer) -> None:
        await peer.request()
        if peer.index <= 2:
            if peer.index == 2:
                both.set()
            await both.wait()
            await peer.send(OK)
            await peer.request()  # then closes without an answer
            return
        await peer.send(OK)
        while await peer.request() is not None:
            await peer.send(OK)

    async with serve(handler) as (server, pool):
        await asyncio.gather(get(pool), get(pool))
        assert pool.idle_count == 2
        assert await get(pool) == (200, b"ok")
        assert server.connections == 3


async def test_new_connection_closed_before_the_answer_is_not_retried() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()  # and closes

    async with serve(handler) as (server, pool):
        with pytest.raises(HttpError, match="closed before the answer"):
            await get(pool)
        assert len(server.requests) == 1
        assert pool_is_empty(pool)


async def test_pooled_connection_cut_after_the_answer_began_is_not_retried() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.send(OK)
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\n")  # and closes

    async with serve(handler) as (server, pool):
        assert await get(pool) == (200, b"ok")
        with pytest.raises(HttpError, match="closed before the answer"):
            await get(pool)
        assert len(server.requests) == 2

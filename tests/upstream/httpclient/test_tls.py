"""HTTPS, the way the proxy reaches Google: a TLS server on loopback with a certificate from a test CA."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator

import pytest
import trustme

from gemini_proxy.upstream.httpclient import ConnectionPool, HttpError
from tests.upstream.httpclient.rawserver import OK, RawServer, answering


@contextlib.asynccontextmanager
async def tls_server(ca: trustme.CA) -> AsyncIterator[RawServer]:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    server = RawServer(answering(OK))
    tcp = await asyncio.start_server(server.serve, "127.0.0.1", 0, ssl=server_context)
    server.port = tcp.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        tcp.close()
        for task in server.tasks:
            task.cancel()
        await asyncio.gather(*server.tasks, return_exceptions=True)


async def test_https_request_verified_and_reused() -> None:
    ca = trustme.CA()
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    async with tls_server(ca) as server:
        pool = ConnectionPool(
            f"https://127.0.0.1:{server.port}", connect_timeout=2, read_timeout=2, ssl_context=client_context
        )
        try:
            for _ in range(3):
                response = await pool.request("POST", "/v1beta/models/m:generateContent", [], b"{}")
                assert (response.status, await response.read()) == (200, b"ok")
            assert server.connections == 1  # one TLS handshake, then keep-alive
            assert server.requests[0].startswith(b"POST /v1beta/models/m:generateContent HTTP/1.1\r\n")
        finally:
            await pool.close()


async def test_a_certificate_the_client_does_not_trust_is_refused() -> None:
    async with tls_server(trustme.CA()) as server:
        stranger = trustme.CA()  # the client trusts another CA, as it would a forged certificate
        client_context = ssl.create_default_context()
        stranger.configure_trust(client_context)
        pool = ConnectionPool(
            f"https://127.0.0.1:{server.port}", connect_timeout=2, read_timeout=2, ssl_context=client_context
        )
        try:
            with pytest.raises(HttpError, match="cannot connect to 127.0.0.1"):
                await pool.request("GET", "/v1beta/models", [])
            assert server.requests == []
        finally:
            await pool.close()


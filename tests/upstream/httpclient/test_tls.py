"""HTTPS, the way the proxy reaches Google: a TLS server on loopback with a certificate from a test CA."""

from __future__ import annotations

import ssl

import pytest
import trustme

from gemini_proxy.upstream.http import HttpError
from tests.upstream.httpclient.rawserver import OK, answering, serve


def contexts(server_ca: trustme.CA, trusted_ca: trustme.CA) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(the server's context, with a certificate from ``server_ca``; a client's, trusting ``trusted_ca``)."""
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    trusted_ca.configure_trust(client)
    return server, client


async def test_https_request_verified_and_reused() -> None:
    ca = trustme.CA()
    server_ssl, client_ssl = contexts(ca, ca)
    async with serve(answering(OK), server_ssl=server_ssl, ssl_context=client_ssl) as (server, pool):
        for _ in range(3):
            response = await pool.request("POST", "/v1beta/models/m:generateContent", [], b"{}")
            assert (response.status, await response.read()) == (200, b"ok")
        assert server.connections == 1  # one TLS handshake, then keep-alive
        assert server.requests[0].startswith(b"POST /v1beta/models/m:generateContent HTTP/1.1\r\n")


async def test_a_certificate_the_client_does_not_trust_is_refused() -> None:
    # The client trusts another CA, as it would when shown a forged certificate.
    server_ssl, client_ssl = contexts(trustme.CA(), trustme.CA())
    async with serve(answering(OK), server_ssl=server_ssl, ssl_context=client_ssl) as (server, pool):
        with pytest.raises(HttpError, match="cannot connect to 127.0.0.1"):
            await pool.request("GET", "/v1beta/models", [])
        assert server.requests == []

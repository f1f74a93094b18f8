"""Outbound (forward) proxies: the upstream reached through an HTTP ``CONNECT`` tunnel.

``ProxyURL.parse`` reads ``http://[user:password@]host[:port]`` (a proxy's credentials go in a
``Proxy-Authorization: Basic`` header on the ``CONNECT``, and nowhere else: ``shown`` is the URL
without them, the only form that reaches a message or the status API). ``open_tunnel`` connects
to the proxy, asks it for a tunnel to the upstream's host and port, and hands back the socket,
on which the pool then speaks TLS (for ``https``, Google) or plain HTTP (a local simulator): the
same tunnel for both schemes, so the proxy sees only the host and port, never a request.

Only ``http://`` proxies (the connection to the proxy itself is not encrypted, as with curl's
and httpx's default); credentials travel in clear to it, as they do there.
"""

from __future__ import annotations

import asyncio
import base64
import socket
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from gemini_proxy.upstream.http.errors import HttpError

__all__ = ["ProxyURL", "open_tunnel", "parse_proxy"]

_MAX_REPLY = 16 * 1024  # a CONNECT reply's headers, at most


@dataclass(frozen=True, slots=True)
class ProxyURL:
    host: str
    port: int
    authorization: str | None = field(default=None, repr=False)  # the Proxy-Authorization value

    @property
    def shown(self) -> str:
        """The proxy without its credentials: what messages, logs and the status API show."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def __repr__(self) -> str:
        return f"ProxyURL({self.shown})"

    @classmethod
    def parse(cls, url: str) -> ProxyURL:
        """``http://[user:password@]host[:port]`` (port 80 by default; ``host:port`` alone means
        http too). Raises ``ValueError`` whose message never holds the credentials."""
        text = url.strip()
        if "://" not in text:
            text = "http://" + text
        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError:
            raise ValueError("an outbound proxy must be http://host:port (the port is not a number)") from None
        if parts.scheme != "http":
            raise ValueError(f"an outbound proxy must be an http:// URL, not {parts.scheme}://")
        if not parts.hostname:
            raise ValueError("an outbound proxy must be http://host:port (no host)")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("an outbound proxy is http://host:port, with no path or query")
        authorization = None
        if parts.username is not None or parts.password is not None:
            pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
            authorization = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        return cls(parts.hostname, port or 80, authorization)


def parse_proxy(value: str) -> ProxyURL | None:
    """A proxy setting (``GEMINI_PROXY_UPSTREAM_PROXY``, a key's ``proxy=``): ``direct`` (any case)
    for none, else a proxy URL, read by ``ProxyURL.parse``."""
    return None if value.strip().lower() == "direct" else ProxyURL.parse(value)


async def open_tunnel(proxy: ProxyURL, host: str, port: int) -> socket.socket:
    """A connected socket on which bytes reach ``host:port`` through ``proxy``. The caller's
    timeout bounds it; failures raise ``HttpError`` naming the proxy without its credentials."""
    loop = asyncio.get_running_loop()
    sock = await _connect(loop, proxy)
    try:
        target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        lines = [f"CONNECT {target} HTTP/1.1", f"host: {target}"]
        if proxy.authorization is not None:
            lines.append(f"proxy-authorization: {proxy.authorization}")
        await loop.sock_sendall(sock, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        reply = b""
        while b"\r\n\r\n" not in reply:
            data = await loop.sock_recv(sock, 4096)
            if not data:
                raise HttpError(f"the outbound proxy {proxy.shown} closed the connection before answering CONNECT")
            reply += data
            if len(reply) > _MAX_REPLY:
                raise HttpError(f"the outbound proxy {proxy.shown} sent an oversized answer to CONNECT")
        status = _status_of(reply)
        if status in (401, 407):  # 407 is the standard answer; tinyproxy answers a CONNECT with 401
            said = "refused the credentials" if proxy.authorization is not None else "asks for credentials"
            raise HttpError(f"the outbound proxy {proxy.shown} {said} ({status})")
        if status is None or not 200 <= status < 300:
            shown = status if status is not None else "no HTTP status"
            raise HttpError(f"the outbound proxy {proxy.shown} refused the tunnel to {target} ({shown})")
        if not reply.endswith(b"\r\n\r\n"):  # the client speaks first in a tunnel: nothing may follow yet
            raise HttpError(f"the outbound proxy {proxy.shown} sent bytes after its answer to CONNECT")
    except BaseException:
        sock.close()
        raise
    return sock


async def _connect(loop: asyncio.AbstractEventLoop, proxy: ProxyURL) -> socket.socket:
    try:
        infos = await loop.getaddrinfo(proxy.host, proxy.port, type=socket.SOCK_STREAM)
    except OSError:
        raise HttpError(f"cannot resolve the outbound proxy {proxy.shown}") from None
    for family, kind, protocol, _, address in infos:
        sock = socket.socket(family, kind, protocol)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, address)
        except OSError:
            sock.close()
            continue
        except BaseException:
            sock.close()
            raise
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    raise HttpError(f"cannot connect to the outbound proxy {proxy.shown}")


def _status_of(reply: bytes) -> int | None:
    line = reply.split(b"\r\n", 1)[0].split()
    if len(line) >= 2 and line[0].startswith(b"HTTP/") and line[1].isdigit():
        return int(line[1])
    return None

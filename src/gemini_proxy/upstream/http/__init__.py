"""A small pooled HTTP/1.1 client for one origin: the transport under ``upstream/client.py``.

Why not aiohttp here: the proxy's budget is 0.5 ms of CPU per request, and aiohttp's general
machinery (sessions, timers, multidicts, payloads, stream readers) costs 0.19-0.24 ms of it per
call; this client does the same job for one known origin in ~0.09 ms, 2.2x cheaper
(``bench/clients.py``). Parsing is httptools' (llhttp, the parser under uvicorn and Node); what
remains here is the pool, framing of one request, and handing the body over as it arrives.
aiohttp is still the client for arbitrary URLs (``media.py``). What keeping it costs: these
five small modules and their tests (``tests/upstream/httpclient/``), which script raw servers
byte by byte for every framing, failure and timing case below.

What it does: keep-alive connections reused most-recent-first and dropped after
``keepalive_expiry`` idle seconds, at most ``max_connections`` open (requests wait their turn);
``Content-Length``, chunked and close-delimited bodies; interim 1xx answers skipped; gzip/deflate
bodies decoded; a read timeout between bytes; reading paused while a streamed body's consumer
lags; a reused connection that turns out to be closed before any byte of the answer is sent
again once on a new one. Failures raise ``HttpError`` whose message never holds a URL or a
header (a key lives in one).

The parts: ``body.BodyStream`` (bytes in through ``feed``/``end``, out through ``read`` or
``iter_chunks``), ``connection.Connection`` (one socket, with an explicit ``ConnectionState``),
``pool.ConnectionPool`` (the cap and the waiting), and ``transport.Transport``, the seam that
``asgi.ASGITransport`` also fills to serve requests from an ASGI app in process (tests).
"""

from gemini_proxy.upstream.http.asgi import ASGITransport
from gemini_proxy.upstream.http.body import PAUSE_ABOVE, BodyStream
from gemini_proxy.upstream.http.connection import Connection, ConnectionState
from gemini_proxy.upstream.http.errors import HttpError, StaleConnection
from gemini_proxy.upstream.http.pool import ConnectionPool
from gemini_proxy.upstream.http.transport import Response, Transport

__all__ = [
    "PAUSE_ABOVE",
    "ASGITransport",
    "BodyStream",
    "Connection",
    "ConnectionPool",
    "ConnectionState",
    "HttpError",
    "Response",
    "StaleConnection",
    "Transport",
]

"""Key rotation and retries: the one layer that decides which key serves a request.

``Gateway.call`` (unary) and ``Gateway.open_stream`` (streaming) take a key from the pool,
send once through ``GeminiClient``, classify Google's answer (``quota.classify``), tell the pool,
and try another key when the failure is the key's or the server's, not the request's:

* 429 and invalid keys rotate to the next key. These are cheap, so they are bounded by the
  deadline and ``MAX_ROTATIONS``, not by ``attempts``; the pool benches such keys itself.
* 5xx, timeouts and connection errors count against ``attempts`` and back off briefly.
* a 400 about the request itself, or a 404, goes straight back to the client.
* a stream is retried only until Google answers 200: after that the client has bytes.

When no key is left the pool raises ``NoKeyAvailable`` (429 with Retry-After), unless the
last failure was a server error (5xx, timeout), which is then the more truthful answer; a key's
own 429 or 400/401/403 never reaches the client.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from gemini_proxy.errors import NoKeyAvailable, UpstreamError, UpstreamStatusError, UpstreamUnavailable
from gemini_proxy.upstream.client import GeminiClient, UpstreamResponse
from gemini_proxy.upstream.pool import KeyPool, Lease
from gemini_proxy.upstream.quota import ClientFault, InvalidKey, Outcome, RateLimited, Success, Transient, classify
from gemini_proxy.upstream.usage import UsageScanner, usage_outcome

# Upper bound on keys one request may rotate through after 429s and invalid keys.
MAX_ROTATIONS = 64


class AttemptObserver(Protocol):
    def attempt(self, outcome: str) -> None: ...


@dataclass(slots=True)
class Answer:
    """A 200 answer to a unary call, read whole."""

    status: int
    headers: Mapping[str, str]
    raw: bytes
    key_id: str
    _json: Any = field(default=None)

    def json(self) -> Any:
        """The answer parsed (once, when first asked: a passthrough never needs it); ``{}`` if not JSON."""
        if self._json is None:
            self._json = _parse_json(self.raw)
        return self._json


class UpstreamStream:
    """A 200 streaming answer. Iterate ``chunks()``; the lease is released when it ends."""

    def __init__(self, pool: KeyPool, lease: Lease, response: UpstreamResponse) -> None:
        self._pool = pool
        self._lease = lease
        self._response = response
        self._scanner = UsageScanner()
        self._released = False
        self.headers = response.headers
        self.key_id = lease.key.short_id

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        outcome: Outcome = ClientFault()  # a client that went away says nothing about the key
        try:
            async for data in self._response.iter_chunks():
                self._scanner.feed(data)
                yield data
            outcome = self._scanner.outcome()
        except UpstreamUnavailable as exc:
            outcome = Transient(exc.message)
            raise
        finally:
            self.release(outcome)

    def close(self) -> None:
        """Ends the stream wherever it is (idempotent): a client that left says nothing about the key."""
        self.release(ClientFault())

    def release(self, outcome: Outcome) -> None:
        if not self._released:
            self._released = True
            if not isinstance(outcome, Success):
                # Unread data is left on an unfinished stream: its connection cannot be reused.
                self._response.close()
            self._pool.release(self._lease, outcome)


class Gateway:
    def __init__(
        self,
        client: GeminiClient,
        pool: KeyPool,
        *,
        attempts: int = 4,
        deadline: float = 60.0,
        max_wait: float = 3.0,
        observer: AttemptObserver | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self._pool = pool
        self._attempts = attempts
        self._deadline = deadline
        self._max_wait = max_wait
        self._observer = observer
        self._clock = clock

    async def call(
        self,
        model: str,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        query: Mapping[str, str] | None = None,
        prefer: str | None = None,
    ) -> Answer:
        lease, response, raw = await self._send_with_rotation(
            model, method, path, body, query, prefer, read=True, retry_read=_repeatable(method, path)
        )
        self._pool.release(lease, usage_outcome(raw))
        return Answer(response.status, response.headers, raw, lease.key.short_id)

    async def open_stream(
        self,
        model: str,
        path: str,
        *,
        body: bytes,
        query: Mapping[str, str] | None = None,
        prefer: str | None = None,
    ) -> UpstreamStream:
        lease, response, _ = await self._send_with_rotation(model, "POST", path, body, query, prefer, read=False)
        return UpstreamStream(self._pool, lease, response)

    async def _send_with_rotation(
        self,
        model: str,
        method: str,
        path: str,
        body: bytes | None,
        query: Mapping[str, str] | None,
        prefer: str | None,
        *,
        read: bool,
        retry_read: bool = False,
    ) -> tuple[Lease, UpstreamResponse, bytes]:
        """A 2xx answer's lease (not released), response and, with ``read``, its whole body. With
        ``retry_read`` a body cut short is retried on another key like a failed send (the client has
        seen nothing); only for calls that may run twice: a cache created or deleted twice may not."""
        deadline = self._clock() + self._deadline
        tried: set[str] = set()
        failures = rotations = 0
        last_error: UpstreamError | None = None
        while True:
            remaining = deadline - self._clock()
            if remaining <= 0 and last_error is not None and _is_server_error(last_error):
                raise last_error
            try:
                lease = await self._pool.acquire(
                    model, exclude=frozenset(tried), max_wait=max(0.0, min(self._max_wait, remaining)), prefer=prefer
                )
            except NoKeyAvailable:
                # A server error is the truer answer; a key's own 429/401/403 is not the client's business.
                if last_error is not None and _is_server_error(last_error):
                    raise last_error from None
                raise
            cut_short = False  # the answer's body broke off (the request itself was served)
            try:
                response = await self.client.send(lease.key, method, path, body=body, query=query)
                ok = 200 <= response.status < 300
                raw = b""
                if ok and read:
                    cut_short = True
                    raw = await response.read()
                    cut_short = False
            except UpstreamUnavailable as exc:
                outcome: Outcome = Transient(exc.message)
                self._pool.release(lease, outcome)
                last_error = exc
                if cut_short and not retry_read:
                    self._observe(_outcome_name(outcome))
                    raise
            except BaseException:
                self._pool.release(lease, ClientFault())
                raise
            else:
                if ok:
                    self._observe("ok")
                    return lease, response, raw
                try:
                    raw = await _read_error(response)
                except BaseException:  # cancelled while reading Google's error: the client left
                    self._pool.release(lease, ClientFault())
                    raise
                parsed = _parse_json(raw)
                outcome = classify(response.status, parsed)
                self._pool.release(lease, outcome)
                error = UpstreamStatusError(response.status, _unwrap(parsed), raw=raw, headers=dict(response.headers))
                if isinstance(outcome, ClientFault):
                    self._observe("client_error")
                    raise error
                last_error = error
                rotations += 1
                if rotations > MAX_ROTATIONS:
                    raise error
            self._observe(_outcome_name(outcome))
            if isinstance(outcome, Transient):
                # A key that just failed is not tried again by this request. A rate-limited or
                # invalid key needs no such rule: the pool itself benches it, and a request may
                # still wait for a short cooldown to end.
                tried.add(lease.key.short_id)
                failures += 1
                if failures >= self._attempts:
                    raise last_error
                await asyncio.sleep(min(0.05 * 2 ** (failures - 1), 0.5, max(0.0, deadline - self._clock())))

    def _observe(self, outcome: str) -> None:
        if self._observer is not None:
            self._observer.attempt(outcome)


_REPEATABLE = frozenset({"generateContent", "countTokens", "embedContent", "batchEmbedContents"})


def _repeatable(method: str, path: str) -> bool:
    """Whether asking again has no effect beyond the answer: reads and generation, not cache writes."""
    return method == "GET" or (method == "POST" and path.rpartition(":")[2] in _REPEATABLE)


async def _read_error(response: UpstreamResponse) -> bytes:
    try:
        return await response.read()
    except UpstreamUnavailable:
        return b""


def _parse_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        return {}


def _unwrap(parsed: Any) -> dict[str, Any]:
    """Google wraps errors of JSON-array streams in an array: ``[{"error": {...}}]``."""
    if isinstance(parsed, list) and parsed and isinstance(parsed[0], dict):
        return parsed[0]
    return parsed if isinstance(parsed, dict) else {}


def _is_server_error(error: UpstreamError) -> bool:
    return not isinstance(error, UpstreamStatusError) or error.upstream_status >= 500


_OUTCOME_NAMES = {Success: "ok", InvalidKey: "invalid_key", Transient: "transient", ClientFault: "client_error"}


def _outcome_name(outcome: Outcome) -> str:
    """The ``outcome`` label of ``gemini_proxy_upstream_attempts_total``."""
    if isinstance(outcome, RateLimited):
        return "rate_limited_daily" if outcome.per_day else "rate_limited"
    return _OUTCOME_NAMES[type(outcome)]

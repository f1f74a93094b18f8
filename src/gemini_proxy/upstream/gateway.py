"""Key rotation and retries: the one layer that decides which key serves a request, and the loop
that follows the retry policy (``upstream/policy.py``).

``Gateway.call`` (unary) and ``Gateway.open_stream`` (streaming) take a key from the pool, send
once through ``GeminiClient``, read Google's error once (``GoogleError``, carried by
``UpstreamStatusError``) and classify it (``quota.outcome_of``), tell the pool, and then do what
``policy.POLICY`` says for that result and kind of request: answer, fail, go again, or rotate to
another key, within the request's ``Budget`` and its deadline.

Every call's model is first checked against the request's model allow-list
(``upstream/allowed.py``): a client's ``models`` are enforced here, once for every surface. The
pool then keeps its state under the model's bucket (``upstream/model_names.py``): the model itself
if it exists, one ``(other)`` bucket for every name that does not.

When no key is left the pool raises ``NoKeyAvailable`` (429 with Retry-After), unless the
last failure was a server error (5xx, timeout), which is then the more truthful answer; a key's
own 429 or 400/401/403 never reaches the client.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple, Protocol

import orjson

from gemini_proxy.errors import NoKeyAvailable, UpstreamError, UpstreamStatusError, UpstreamUnavailable
from gemini_proxy.upstream.allowed import check_model
from gemini_proxy.upstream.client import GeminiClient, UpstreamResponse
from gemini_proxy.upstream.model_names import OTHER, KnownModels
from gemini_proxy.upstream.policy import Action, Budget, Result, decide, kind_of, result_of
from gemini_proxy.upstream.pool import KeyPool, Lease
from gemini_proxy.upstream.quota import ClientFault, InvalidKey, Outcome, RateLimited, Success, Transient, outcome_of
from gemini_proxy.upstream.usage import UsageScanner, usage_outcome


class AttemptObserver(Protocol):
    def attempt(self, outcome: str) -> None: ...

    def served(self, model: str, usage: Success) -> None:
        """A call was answered with this usage (the client it was for is the context's)."""


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
    """A 200 streaming answer. Iterate ``chunks()``; the lease is released when it ends (read
    whole: in the loop's next turn, with its usage, as ``Gateway.call`` does)."""

    def __init__(
        self, pool: KeyPool, lease: Lease, response: UpstreamResponse, observer: AttemptObserver | None = None
    ) -> None:
        self._pool = pool
        self._observer = observer
        self._lease = lease
        self._response = response
        self._scanner = UsageScanner()
        self._released = False
        self.headers = response.headers
        self.key_id = lease.key.short_id

    async def chunks(self, idle: float | None = None) -> AsyncGenerator[bytes, None]:
        """The answer's bytes as they arrive; with ``idle``, ``b""`` each time ``idle`` seconds pass without any."""
        failure: Outcome | None = ClientFault()  # a client that went away says nothing about the key
        try:
            async for data in self._response.iter_chunks(idle):
                self._scanner.feed(data)
                yield data
            failure = None
        except UpstreamUnavailable as exc:
            failure = Transient(exc.message)
            raise
        finally:
            if failure is None:
                self._finish()
            else:
                self._end(failure)

    def close(self) -> None:
        """Ends the stream wherever it is (idempotent): a client that left says nothing about the key."""
        self._end(ClientFault())

    def _end(self, failure: Outcome) -> None:
        if self._released:
            return
        if type(failure) is ClientFault and self._response.complete:
            # Gemini's answer was all read (and scanned) before the client left: it is served.
            self._finish()
            return
        self._released = True
        self._response.close()  # unread data is left on an unfinished stream: its connection cannot be reused
        self._pool.release(self._lease, failure)

    def _finish(self) -> None:
        """Read whole: the key's slot is free now; the usage is scanned, counted and told to the
        pool in the loop's next turn, after the caller's step that sends the stream's end."""
        if not self._released:
            self._released = True
            self._pool.free(self._lease)
            loop = asyncio.get_running_loop()
            loop.call_soon(_settle, self._pool, self._observer, self._lease, self._scanner.outcome)


class _Attempt(NamedTuple):
    result: Result
    outcome: Outcome | None  # for the pool; None for a 2xx (settled by ``call`` or the stream, with its usage)
    error: UpstreamError | None
    response: UpstreamResponse | None
    raw: bytes


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
        names: KnownModels | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.client = client
        self.names = names  # None: every model name is its own bucket
        self._sleep = sleep
        self._pool = pool
        self.attempts = attempts
        self._deadline = deadline
        self._max_wait = max_wait
        self._observer = observer
        self._clock = clock

    def budget(self, calls: int = 1) -> Budget:
        """The budget of a piece of work that makes up to ``calls`` calls (each spends at most
        ``attempts`` failures of it): a caller that retries passes it to each of its calls."""
        return Budget(self.attempts * calls)

    async def call(
        self,
        model: str,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        query: Mapping[str, str] | None = None,
        prefer: str | None = None,
        budget: Budget | None = None,
    ) -> Answer:
        lease, response, raw = await self._send(model, method, path, body, query, prefer, read=True, budget=budget)
        # The key's slot is free at once; the rest of the answer's bookkeeping (its usage read from
        # the bytes, the counts, the pool told the outcome: ~15 us on a cold core) waits for the
        # loop's next turn, by when the caller's step has usually translated and written the
        # answer: off the client's latency.
        self._pool.free(lease)
        asyncio.get_running_loop().call_soon(_settle, self._pool, self._observer, lease, partial(usage_outcome, raw))
        return Answer(response.status, response.headers, raw, lease.key.short_id)

    def counted(self, model: str, usage: Success) -> None:
        """Tokens Google counted apart for answers that did not say (``countTokens`` for an
        embedding batch): told to the observer as served usage, so that the client's usage, its
        token limits and the tokens metric see them as they see every answer's."""
        if self._observer is not None:
            self._observer.served(model, usage)

    async def open_stream(
        self,
        model: str,
        path: str,
        *,
        body: bytes,
        query: Mapping[str, str] | None = None,
        prefer: str | None = None,
    ) -> UpstreamStream:
        lease, response, _ = await self._send(model, "POST", path, body, query, prefer, read=False)
        return UpstreamStream(self._pool, lease, response, self._observer)

    async def _send(
        self,
        model: str,
        method: str,
        path: str,
        body: bytes | None,
        query: Mapping[str, str] | None,
        prefer: str | None,
        *,
        read: bool,
        budget: Budget | None = None,
    ) -> tuple[Lease, UpstreamResponse, bytes]:
        """A 2xx answer's lease (not released), response and, with ``read``, its whole body."""
        check_model(model)  # the client's allow-list, before a key is taken
        names = self.names
        bucket = model if names is None else names.bucket(model)  # the pool's state is per known model
        if bucket == OTHER and names is not None:
            bucket = await names.resolve(model)
        kind = kind_of(method, path)
        budget = budget if budget is not None else Budget(self.attempts)
        floor = budget.failures - self.attempts  # one call spends at most ``attempts`` failures
        deadline = self._clock() + self._deadline
        tried: set[str] = set()
        last_error: UpstreamError | None = None
        backoffs = 0
        while True:
            remaining = deadline - self._clock()
            if remaining <= 0 and last_error is not None and _is_server_error(last_error):
                raise last_error
            try:
                lease = await self._pool.acquire(
                    bucket, exclude=frozenset(tried), max_wait=max(0.0, min(self._max_wait, remaining)), prefer=prefer
                )
            except NoKeyAvailable:
                # A server error is the truer answer; a key's own 429/401/403 is not the client's business.
                if last_error is not None and _is_server_error(last_error):
                    raise last_error from None
                raise
            attempt = await self._attempt(lease, method, path, body, query, read=read)
            if attempt.outcome is None:
                self._observe("ok")
            else:
                self._pool.release(lease, attempt.outcome)
                self._observe(_outcome_name(attempt.outcome))
            action = decide(attempt.result, kind)
            if action is Action.ANSWER and attempt.response is not None:
                if bucket == OTHER and names is not None:  # Google served it: a model, though not listed
                    names.learn((model,))
                    lease.model = names.bucket(model)
                return lease, attempt.response, attempt.raw
            error = attempt.error
            assert error is not None
            last_error = error
            if action is Action.FAIL or not budget.spend(action) or budget.failures <= floor:
                raise error
            if action is Action.ROTATE:
                sid = lease.key.short_id
                tried.add(sid)  # a key that just failed is not tried again by this request
                if not self._pool.is_benched(sid):
                    # Perhaps the model's trouble rather than the key's: back off before the next key.
                    backoffs += 1
                    await self._sleep(min(0.05 * 2 ** (backoffs - 1), 0.5, max(0.0, deadline - self._clock())))

    async def _attempt(
        self,
        lease: Lease,
        method: str,
        path: str,
        body: bytes | None,
        query: Mapping[str, str] | None,
        *,
        read: bool,
    ) -> _Attempt:
        """One send on ``lease``'s key and what came of it. The lease is released here only when
        the attempt is cancelled (the client left, which says nothing about the key)."""
        try:
            try:
                response = await self.client.send(lease.key, method, path, body=body, query=query)
            except UpstreamUnavailable as exc:
                return _Attempt(Result.NO_ANSWER, Transient(exc.message), exc, None, b"")
            if 200 <= response.status < 300:
                if not read:
                    return _Attempt(Result.OK, None, None, response, b"")
                try:
                    raw = await response.read()
                except UpstreamUnavailable as exc:  # served, but the answer broke off
                    return _Attempt(Result.CUT_SHORT, Transient(exc.message), exc, None, b"")
                return _Attempt(Result.OK, None, None, response, raw)
            raw = _without_secret(await _read_error(response), lease.key.secret)
        except BaseException:
            self._pool.release(lease, ClientFault())
            raise
        error = UpstreamStatusError(response.status, _unwrap(_parse_json(raw)), raw=raw, headers=dict(response.headers))
        outcome = outcome_of(error.google)
        return _Attempt(result_of(response.status, outcome), outcome, error, None, raw)

    def _observe(self, outcome: str) -> None:
        if self._observer is not None:
            self._observer.attempt(outcome)


def _settle(pool: KeyPool, observer: AttemptObserver | None, lease: Lease, usage_of: Callable[[], Success]) -> None:
    """An answer's bookkeeping, a turn after it was read: its usage counted and told to the pool."""
    usage = usage_of()
    try:
        if observer is not None:
            observer.served(lease.model, usage)
    finally:  # a callback's error is only logged: the key is given back whatever happens
        pool.release(lease, usage)


def _without_secret(raw: bytes, secret: str) -> bytes:
    """Google's error body with the key it was sent with masked: the body goes back to clients
    (as it is on the native surface) and into logs."""
    secret_bytes = secret.encode()
    return raw.replace(secret_bytes, b"***") if secret_bytes in raw else raw


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

"""The retry policy, one row per (result, kind of request): the table itself, and the gateway
following it against a scripted Google on loopback (real HTTP, real pool, real client).

Each row's upstream answers the first attempt with that result and every later one with a 200; the
row says how many times Google was asked and whether the caller got the answer or the error.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import orjson
import pytest

from gemini_proxy.errors import ProxyError, UpstreamStatusError, UpstreamUnavailable
from gemini_proxy.state.memory import MemoryStore
from gemini_proxy.upstream.client import GeminiClient, make_connections
from gemini_proxy.upstream.gateway import Gateway
from gemini_proxy.upstream.outliers import BENCH_AFTER
from gemini_proxy.upstream.policy import POLICY, Action, Budget, Kind, Result, decide, kind_of
from gemini_proxy.upstream.pool import KeyPool
from tests.upstream.conftest import fake_keys

M = "gemini-2.5-flash"
RPC = "type.googleapis.com/google.rpc."

# (result, generation, read, write): the table as the docs and the module docstring state it.
TABLE: list[tuple[Result, Action, Action, Action]] = [
    (Result.OK, Action.ANSWER, Action.ANSWER, Action.ANSWER),
    (Result.CLIENT_FAULT, Action.FAIL, Action.FAIL, Action.FAIL),
    (Result.RATE_LIMITED, Action.AGAIN, Action.AGAIN, Action.AGAIN),
    (Result.INVALID_KEY, Action.AGAIN, Action.AGAIN, Action.AGAIN),
    (Result.REFUSED, Action.ROTATE, Action.ROTATE, Action.ROTATE),
    (Result.SERVER_ERROR, Action.ROTATE, Action.ROTATE, Action.FAIL),
    (Result.NO_ANSWER, Action.ROTATE, Action.ROTATE, Action.FAIL),
    (Result.CUT_SHORT, Action.ROTATE, Action.ROTATE, Action.FAIL),
]
KINDS: tuple[Kind, ...] = ("generation", "read", "write")
ROWS = [(result, kind, actions[i]) for result, *actions in TABLE for i, kind in enumerate(KINDS)]


def test_the_table_is_complete() -> None:
    assert set(POLICY) == set(Result) and all(set(row) == set(KINDS) for row in POLICY.values())
    assert len(ROWS) == len(Result) * len(KINDS)


@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [
        ("POST", f"/v1beta/models/{M}:generateContent", "generation"),
        ("POST", f"/v1beta/models/{M}:streamGenerateContent", "generation"),
        ("POST", f"/v1beta/models/{M}:countTokens", "read"),
        ("POST", "/v1beta/models/text-embedding-004:batchEmbedContents", "read"),
        ("GET", "/v1beta/models", "read"),
        ("GET", "/v1beta/cachedContents/abc", "read"),
        ("POST", "/v1beta/cachedContents", "write"),
        ("PATCH", "/v1beta/cachedContents/abc", "write"),
        ("DELETE", "/v1beta/cachedContents/abc", "write"),
    ],
)
def test_kind_of(method: str, path: str, kind: Kind) -> None:
    assert kind_of(method, path) == kind


# -- a scripted Google ---------------------------------------------------------------------------


def _answer(status: int, body: object, *, length: int | None = None) -> bytes:
    data = orjson.dumps(body)
    reason = {200: "OK", 400: "Bad Request", 429: "Too Many Requests", 500: "Internal", 503: "Unavailable"}[status]
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {length if length is not None else len(data)}\r\n\r\n"
    ).encode() + data


def _error(status: int, google: str, message: str, *details: dict[str, object]) -> bytes:
    return _answer(status, {"error": {"code": status, "message": message, "status": google, "details": list(details)}})


def _length(head: bytes) -> int:
    lines = head.split(b"\r\n")
    return next((int(x.split(b":")[1]) for x in lines if x.lower().startswith(b"content-length")), 0)


OK = _answer(200, {"candidates": [], "usageMetadata": {"promptTokenCount": 1}})
FIRST: dict[Result, bytes | None] = {
    Result.OK: OK,
    Result.CLIENT_FAULT: _error(400, "INVALID_ARGUMENT", "Bad field."),
    Result.RATE_LIMITED: _error(
        429, "RESOURCE_EXHAUSTED", "Slow down.", {"@type": RPC + "RetryInfo", "retryDelay": "30s"}
    ),
    Result.INVALID_KEY: _error(400, "INVALID_ARGUMENT", "API key not valid.",
                               {"@type": RPC + "ErrorInfo", "reason": "API_KEY_INVALID"}),
    Result.REFUSED: _error(503, "UNAVAILABLE", "The model is overloaded."),
    Result.SERVER_ERROR: _error(500, "INTERNAL", "An internal error has occurred."),
    Result.NO_ANSWER: None,  # reads the request, never answers: the client's read timeout
    Result.CUT_SHORT: _answer(200, {"name": "cachedContents/x"}, length=500),  # then closes
}


@dataclass
class Google:
    first: Result
    answers: list[bytes | None] = field(default_factory=list)
    requests: list[bytes] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = _length(head)
                self.requests.append(head + await reader.readexactly(length))
                answer = FIRST[self.first] if len(self.requests) == 1 else OK
                if answer is None:
                    await asyncio.sleep(10)
                    return
                writer.write(answer)
                await writer.drain()
                if self.first is Result.CUT_SHORT and len(self.requests) == 1:
                    break
        writer.close()


@contextlib.asynccontextmanager
async def gateway_to(google: Google, keys: int = 2) -> AsyncIterator[tuple[Gateway, KeyPool, list[float]]]:
    server = await asyncio.start_server(google.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    connections = make_connections(base_url=f"http://127.0.0.1:{port}", connect_timeout=1.0, request_timeout=0.3)
    pool = KeyPool(fake_keys(keys), MemoryStore())
    slept: list[float] = []

    async def sleep(seconds: float) -> None:  # the backoff, recorded instead of waited for
        slept.append(seconds)

    try:
        yield Gateway(GeminiClient(connections), pool, attempts=4, max_wait=0.0, sleep=sleep), pool, slept
    finally:
        await connections.close()
        server.close()
        await server.wait_closed()


REQUESTS: dict[Kind, tuple[str, str]] = {
    "generation": ("POST", f"/v1beta/models/{M}:generateContent"),
    "read": ("POST", f"/v1beta/models/{M}:countTokens"),
    "write": ("POST", "/v1beta/cachedContents"),
}


@pytest.mark.parametrize(("result", "kind", "action"), ROWS, ids=[f"{r.value}-{k}" for r, k, _ in ROWS])
async def test_policy_row(result: Result, kind: Kind, action: Action) -> None:
    assert decide(result, kind) is action
    google = Google(result)
    method, path = REQUESTS[kind]
    async with gateway_to(google) as (gateway, _, slept):
        try:
            answer = await gateway.call(M, method, path, body=b"{}")
        except ProxyError as exc:
            error: ProxyError | None = exc
        else:
            error = None
            assert answer.status == 200
    sent = len(google.requests)
    if action is Action.ANSWER:
        assert error is None and sent == 1
    elif action is Action.FAIL:
        assert isinstance(error, UpstreamStatusError | UpstreamUnavailable) and sent == 1, "sent once, never again"
    else:
        assert error is None and sent == 2
        keys = {line for r in google.requests for line in r.split(b"\r\n") if line.startswith(b"x-goog-api-key")}
        assert len(keys) == 2, "the second attempt went to the other key"
        assert slept == ([0.05] if action is Action.ROTATE else []), "only a rotation after a server fault backs off"


async def test_a_cache_write_whose_answer_times_out_is_not_sent_again() -> None:
    """Observed before: a read timeout before the headers of POST /v1beta/cachedContents sent the
    write again on another key, and two caches were created."""
    google = Google(Result.NO_ANSWER)
    async with gateway_to(google) as (gateway, _, _):
        with pytest.raises(UpstreamUnavailable):
            await gateway.call(M, "POST", "/v1beta/cachedContents", body=b'{"model": "models/gemini-2.5-flash"}')
    assert [r.split(b" ")[:2] for r in google.requests] == [[b"POST", b"/v1beta/cachedContents"]]


@dataclass
class Always:
    """A Google whose every answer is the same."""

    answer: bytes
    requests: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = _length(head)
                await reader.readexactly(length)
                self.requests += 1
                writer.write(self.answer)
                await writer.drain()


async def test_callers_share_one_budget_instead_of_multiplying() -> None:
    """A caller that retries (the agent runner) passes one budget to all its calls: with up to 4
    failures per call and two calls' worth, a third call is not made at all."""
    google = Always(FIRST[Result.REFUSED] or b"")
    server = await asyncio.start_server(google.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    connections = make_connections(base_url=f"http://127.0.0.1:{port}", connect_timeout=1.0, request_timeout=1.0)

    async def sleep(seconds: float) -> None:
        pass

    gateway = Gateway(GeminiClient(connections), KeyPool(fake_keys(8), MemoryStore()), attempts=4, sleep=sleep)
    budget = gateway.budget(calls=2)
    calls = 0
    try:
        while not budget.exhausted:
            calls += 1
            with pytest.raises(UpstreamStatusError):
                await gateway.call(M, "POST", f"/v1beta/models/{M}:generateContent", body=b"{}", budget=budget)
    finally:
        await connections.close()
        server.close()
        await server.wait_closed()
    assert (calls, google.requests) == (2, 8)
    assert budget == Budget(failures=0)


@dataclass
class OneKeyBroken:
    """A Google that answers 500 to one key and 200 to the others."""

    broken: bytes
    by_key: dict[bytes, int] = field(default_factory=dict)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                await reader.readexactly(_length(head))
                key = next(x.split(b":")[1].strip() for x in lines if x.startswith(b"x-goog-api-key"))
                self.by_key[key] = self.by_key.get(key, 0) + 1
                writer.write(FIRST[Result.SERVER_ERROR] if key == self.broken else OK)  # type: ignore[arg-type]
                await writer.drain()


async def test_a_broken_key_is_benched_and_then_costs_no_backoff() -> None:
    """A key answering 500 to everything while the others work: it is asked ``BENCH_AFTER`` times,
    the backoff is slept only before it is known to fail alone (not on the failure that benches
    it), and every request is answered."""
    keys = fake_keys(3)
    google = OneKeyBroken(keys[0].secret.encode())
    server = await asyncio.start_server(google.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    connections = make_connections(base_url=f"http://127.0.0.1:{port}", connect_timeout=1.0, request_timeout=1.0)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    pool = KeyPool(keys, MemoryStore())
    gateway = Gateway(GeminiClient(connections), pool, attempts=4, sleep=sleep)
    try:
        for _ in range(60):
            answer = await gateway.call(M, "POST", f"/v1beta/models/{M}:generateContent", body=b"{}")
            assert answer.status == 200
    finally:
        await connections.close()
        server.close()
        await server.wait_closed()
    assert google.by_key[keys[0].secret.encode()] == BENCH_AFTER
    assert pool.is_benched(keys[0].short_id)
    assert slept == [0.05] * (BENCH_AFTER - 1)

"""The services of upstream/ that every surface calls (models, caches, embeddings, generation,
URL paths, in-stream errors), driven in process: a real gateway and key pool in front of the
simulator on loopback, the way the app builds them in its lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import orjson
import pytest

from gemini_proxy.errors import InvalidRequest, UpstreamStatusError
from gemini_proxy.observability import client_name
from gemini_proxy.simulator import BackgroundSimulator, SimulatorConfig
from gemini_proxy.state.memory import MemoryStore
from gemini_proxy.upstream import urls
from gemini_proxy.upstream.caches import CachedContents, CachePage, decode_page_token, encode_page_token
from gemini_proxy.upstream.client import GeminiClient, make_connections
from gemini_proxy.upstream.embeddings import Embeddings
from gemini_proxy.upstream.gateway import Answer, Gateway
from gemini_proxy.upstream.generation import Generation
from gemini_proxy.upstream.keys import ApiKey
from gemini_proxy.upstream.models import Models
from gemini_proxy.upstream.pool import KeyPool
from gemini_proxy.upstream.quota import Success
from gemini_proxy.upstream.sse import check_event
from gemini_proxy.upstream.usage import usage_outcome

# Two projects of two keys each (fake keys; the simulator accepts exactly these).
KEYS = {"svc-key-a1": "proj-a", "svc-key-a2": "proj-a", "svc-key-b1": "proj-b", "svc-key-b2": "proj-b"}
MODEL = "gemini-2.5-flash"


class Attempts:
    """The gateway's observer: every upstream attempt, by outcome."""

    def __init__(self) -> None:
        self.outcomes: list[str] = []

    def attempt(self, outcome: str) -> None:
        self.outcomes.append(outcome)

    def served(self, model: str, usage: object) -> None:
        pass


@dataclass
class Upstream:
    sim: SimulatorConfig
    pool: KeyPool
    gateway: Gateway
    attempts: Attempts
    caches: CachedContents

    def key_of(self, short_id: str) -> ApiKey:
        return next(key for key in (ApiKey(secret, project=project) for secret, project in KEYS.items())
                    if key.short_id == short_id)


@pytest.fixture(scope="module")
def simulator() -> Iterator[BackgroundSimulator]:
    with BackgroundSimulator(SimulatorConfig(keys=dict(KEYS))) as server:
        yield server


@pytest.fixture
async def upstream(simulator: BackgroundSimulator) -> AsyncIterator[Upstream]:
    simulator.config.reset()
    keys = [ApiKey(secret, project=project) for secret, project in KEYS.items()]
    pool = KeyPool(keys, MemoryStore())
    await pool.start()
    connections = make_connections(base_url=simulator.base_url, connect_timeout=5, request_timeout=10)
    attempts = Attempts()
    gateway = Gateway(GeminiClient(connections), pool, observer=attempts)
    try:
        yield Upstream(simulator.config, pool, gateway, attempts, CachedContents(gateway, pool))
    finally:
        await connections.close()
        await pool.close()


def user(text: str) -> dict[str, object]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}]}


# -- urls --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (urls.model_method("m-1", urls.GENERATE), "/v1beta/models/m-1:generateContent"),
        (urls.model_method("m-1", urls.STREAM, version="v1"), "/v1/models/m-1:streamGenerateContent"),
        (urls.model_method("m-1", urls.COUNT_TOKENS), "/v1beta/models/m-1:countTokens"),
        (urls.model_method("m-1", urls.BATCH_EMBED), "/v1beta/models/m-1:batchEmbedContents"),
        (urls.models(), "/v1beta/models"),
        (urls.models("v1"), "/v1/models"),
        (urls.model("m-1", version="v1"), "/v1/models/m-1"),
        (urls.cached_contents(), "/v1beta/cachedContents"),
        (urls.cached_content("cachedContents/abc"), "/v1beta/cachedContents/abc"),
    ],
)
def test_url_paths(path: str, expected: str) -> None:
    assert path == expected


# -- in-stream errors --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("event", "status"),
    [
        ({"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}, 429),
        ({"error": {"code": 503, "message": "overloaded"}}, 503),
        ({"error": {"code": 200, "message": "odd code"}}, 502),  # not an error status: a bad gateway
        ({"error": {"code": "500"}}, 502),
        ({"error": "text"}, 502),
    ],
)
def test_an_error_event_is_the_upstream_error_it_carries(event: dict[str, object], status: int) -> None:
    with pytest.raises(UpstreamStatusError) as caught:
        check_event(event)
    assert caught.value.upstream_status == status


@pytest.mark.parametrize(
    "event",
    [
        {"candidates": [{"content": {"parts": [{"text": "hi"}]}}]},
        {"candidates": [], "error": {"code": 500}},  # candidates win: a chunk, not an error
        {"usageMetadata": {"totalTokenCount": 3}},
    ],
)
def test_other_events_pass(event: dict[str, object]) -> None:
    assert check_event(event) is event


# -- models ------------------------------------------------------------------------------------
async def test_the_catalog_reads_every_page_and_is_kept_for_its_ttl(upstream: Upstream) -> None:
    now = [1000.0]
    whole = await Models(upstream.gateway, ttl=300).catalog()
    assert len(whole.models) > 3 and len(upstream.attempts.outcomes) == 1
    paged = Models(upstream.gateway, ttl=300, page_size=2, clock=lambda: now[0], wall_clock=lambda: 1_700_000_000.5)
    upstream.attempts.outcomes.clear()
    catalog = await paged.catalog()
    assert [m["name"] for m in catalog.models] == [m["name"] for m in whole.models]
    assert len(upstream.attempts.outcomes) == -(-len(whole.models) // 2)  # one request per page of 2
    assert catalog.fetched_at == 1_700_000_000.5
    upstream.attempts.outcomes.clear()
    now[0] += 299
    assert await paged.catalog() is catalog and upstream.attempts.outcomes == []
    now[0] += 2
    assert await paged.catalog() is not catalog and upstream.attempts.outcomes


async def test_native_list_and_get_pass_google_s_answer_through(upstream: Upstream) -> None:
    models = Models(upstream.gateway, ttl=300)
    page = await models.list_page({"pageSize": "1"}, version="v1")
    listed = orjson.loads(page.raw)
    assert len(listed["models"]) == 1 and "nextPageToken" in listed
    one = orjson.loads((await models.get(MODEL, None)).raw)
    assert one["name"] == f"models/{MODEL}"


# -- caches ------------------------------------------------------------------------------------
async def create_cache(upstream: Upstream, text: str) -> tuple[str, str]:
    body = orjson.dumps({"model": f"models/{MODEL}", **user(text)})
    answer = await upstream.caches.create(body, None)
    name = orjson.loads(answer.raw)["name"]
    return name, answer.key_id


async def test_a_created_cache_is_used_with_its_creator_s_key(upstream: Upstream) -> None:
    name, creator = await create_cache(upstream, "a long context " * 20)
    assert await upstream.caches.owner(name) == creator
    assert await upstream.caches.owner_of_request({"cachedContent": name, **user("q")}) == creator
    assert await upstream.caches.owner_of_raw(orjson.dumps({"cachedContent": name})) == creator
    assert await upstream.caches.owner_of_raw(b'{"contents": []}') is None
    assert await upstream.caches.owner(None) is None
    # Each of the pool's first keys would be tried first; the owner's key is chosen instead.
    generation = Generation(upstream.gateway, upstream.caches)
    body = {"cachedContent": name, **user("what was in the context?")}
    answer = await generation.generate(MODEL, orjson.dumps(body), gemini_body=body)
    assert answer.key_id == creator
    item = await upstream.caches.item("GET", name, body=None, query=None)
    assert item.key_id == creator and orjson.loads(item.raw)["name"] == name


async def test_the_cache_list_spans_every_project_in_pages(upstream: Upstream) -> None:
    # Two caches in each project: keys of both projects create them (the pool rotates projects).
    made: dict[str, str] = {}
    while len({upstream.key_of(k).project for k in made.values()}) < 2 or len(made) < 4:
        name, key_id = await create_cache(upstream, f"context number {len(made)} " * 10)
        made[name] = key_id
    # A second process (its own pool and store) knows none of them until it lists them.
    pool = KeyPool([ApiKey(secret, project=project) for secret, project in KEYS.items()], MemoryStore())
    caches = CachedContents(Gateway(upstream.gateway.client, pool), pool)
    assert [await caches.owner(name) for name in made] == [None] * len(made)
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        query = {"pageSize": "1", **({"pageToken": token} if token else {})}
        page = await caches.list(query)
        assert isinstance(page, CachePage) and len(page.items) <= 1
        seen += [item["name"] for item in page.items]
        pages += 1
        token = page.next_page_token
        if token is None:
            break
    assert sorted(seen) == sorted(made) and pages >= len(made)
    for name, key_id in made.items():  # listing remembered a key that sees each cache
        assert upstream.key_of(await caches.owner(name) or "").project == upstream.key_of(key_id).project
    whole = await caches.list({})
    assert isinstance(whole, CachePage) and sorted(i["name"] for i in whole.items) == sorted(made)
    assert whole.next_page_token is None


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"pageToken": "not-a-token"}, "pageToken"),
        ({"pageToken": encode_page_token("proj-gone", None)}, "pageToken"),
        ({"pageSize": "ten"}, "pageSize"),
    ],
)
async def test_bad_page_arguments_are_the_client_s_400(upstream: Upstream, query: dict[str, str], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await upstream.caches.list(query)
    assert caught.value.param == param and upstream.attempts.outcomes == []


def test_page_tokens_round_trip() -> None:
    projects = ["p1", "p2", "p3"]
    assert decode_page_token(encode_page_token("p2", "g-token"), projects) == (1, "g-token")
    assert decode_page_token(encode_page_token("p3", None), projects) == (2, None)
    assert decode_page_token(None, projects) == (0, None)


# -- the gateway -------------------------------------------------------------------------------
def requests_today(upstream: Upstream) -> int:
    per_key = [key["models"] for key in upstream.pool.snapshot()]
    return sum(models.get(MODEL, {}).get("requests_today", 0) for models in per_key)


class Served(Attempts):
    def __init__(self) -> None:
        super().__init__()
        self.served_for: list[tuple[str | None, str, object]] = []

    def served(self, model: str, usage: object) -> None:
        self.served_for.append((client_name.get(), model, usage))


def test_tokens_counted_apart_are_told_as_served_usage_of_the_caller_s_client(upstream: Upstream) -> None:
    observer = Served()
    gateway = Gateway(upstream.gateway.client, upstream.pool, observer=observer)
    named = client_name.set("alice")
    try:
        gateway.counted("gemini-embedding-001", Success(prompt_tokens=7))
    finally:
        client_name.reset(named)
    assert observer.served_for == [("alice", "gemini-embedding-001", Success(prompt_tokens=7))]


async def test_an_answer_is_settled_in_the_next_turn_in_its_caller_s_context(upstream: Upstream) -> None:
    """The key's slot is free at once; the usage is counted and the pool told the outcome after
    the caller had a turn to write the answer (off the client's latency), in the client's
    context, and even if the caller is gone."""
    observer = Served()
    gateway = Gateway(upstream.gateway.client, upstream.pool, observer=observer)
    body = orjson.dumps(user("hello"))
    named = client_name.set("alice")
    try:
        answer = await gateway.call(MODEL, "POST", urls.model_method(MODEL, "generateContent"), body=body)
    finally:
        client_name.reset(named)
    assert upstream.pool.counts()["in_flight"] == 0 and observer.served_for == [] and requests_today(upstream) == 0
    await asyncio.sleep(0)
    assert requests_today(upstream) == 1
    meta = orjson.loads(answer.raw)["usageMetadata"]
    assert observer.served_for == [("alice", MODEL, usage_outcome(answer.raw))]
    assert usage_outcome(answer.raw).prompt_tokens == meta["promptTokenCount"] > 0

    async def caller() -> None:
        await gateway.call(MODEL, "POST", urls.model_method(MODEL, "generateContent"), body=body)
        raise asyncio.CancelledError  # gone right after its answer: before anything else ran

    with pytest.raises(asyncio.CancelledError):
        await asyncio.create_task(caller())
    await asyncio.sleep(0)
    assert upstream.pool.counts()["in_flight"] == 0 and len(observer.served_for) == 2


async def test_an_observer_that_fails_in_the_settling_turn_does_not_keep_the_key(upstream: Upstream) -> None:
    class Failing(Attempts):
        def served(self, model: str, usage: object) -> None:
            raise RuntimeError("a counter broke")

    loop = asyncio.get_running_loop()
    errors: list[object] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context.get("exception")))
    try:
        gateway = Gateway(upstream.gateway.client, upstream.pool, observer=Failing())
        body = orjson.dumps(user("hello"))
        await gateway.call(MODEL, "POST", urls.model_method(MODEL, "generateContent"), body=body)
        path = urls.model_method(MODEL, urls.STREAM)
        stream = await gateway.open_stream(MODEL, path, body=body, query={"alt": "sse"})
        assert [data async for data in stream.chunks()]
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    assert upstream.pool.counts()["in_flight"] == 0
    assert [str(error) for error in errors] == ["a counter broke", "a counter broke"]


async def test_a_stream_read_whole_is_settled_after_its_end_and_one_cut_short_at_once(upstream: Upstream) -> None:
    observer = Served()
    gateway = Gateway(upstream.gateway.client, upstream.pool, observer=observer)
    body = orjson.dumps(user("hello"))
    path = urls.model_method(MODEL, urls.STREAM)
    stream = await gateway.open_stream(MODEL, path, body=body, query={"alt": "sse"})
    raw = b"".join([data async for data in stream.chunks()])
    assert upstream.pool.counts()["in_flight"] == 0 and observer.served_for == [] and requests_today(upstream) == 0
    await asyncio.sleep(0)
    assert requests_today(upstream) == 1
    last = orjson.loads(raw.rstrip().rsplit(b"data: ", 1)[1])["usageMetadata"]
    ((_, model, usage),) = observer.served_for
    assert model == MODEL and usage.prompt_tokens == last["promptTokenCount"] > 0
    stream.close()  # after its end: nothing more to give back
    await asyncio.sleep(0)
    assert upstream.pool.counts()["in_flight"] == 0 and len(observer.served_for) == 1

    cut = await gateway.open_stream(MODEL, path, body=body, query={"alt": "sse"})
    chunks = cut.chunks()
    await anext(chunks)
    await chunks.aclose()  # the client left mid-stream: the key is back at once, no usage counted
    assert upstream.pool.counts()["in_flight"] == 0 and len(observer.served_for) == 1



async def test_one_task_s_calls_one_after_another_on_a_key_of_concurrency_one(upstream: Upstream) -> None:
    """The slot is free when ``call`` returns: the next call of the same task, before the loop
    had a turn, gets the key (no wait, no 429 with max_wait=0)."""
    pool = KeyPool([ApiKey("svc-key-a1", project="proj-a")], MemoryStore(), max_concurrency_per_key=1)
    await pool.start()
    try:
        gateway = Gateway(upstream.gateway.client, pool, max_wait=0)
        body = orjson.dumps(user("hello"))
        path = urls.model_method(MODEL, "generateContent")
        for _ in range(3):
            assert (await gateway.call(MODEL, "POST", path, body=body)).status == 200
        streamed = urls.model_method(MODEL, urls.STREAM)
        stream = await gateway.open_stream(MODEL, streamed, body=body, query={"alt": "sse"})
        assert [data async for data in stream.chunks()]
        assert (await gateway.call(MODEL, "POST", path, body=body)).status == 200
    finally:
        await pool.close()


async def test_a_stream_whose_reader_stops_once_gemini_s_answer_is_all_read_is_counted(upstream: Upstream) -> None:
    """A client that leaves after the last bytes came from Gemini (it was billed) leaves a served
    answer: its usage counted, not a client fault."""
    observer = Served()
    gateway = Gateway(upstream.gateway.client, upstream.pool, observer=observer)
    body = orjson.dumps(user("hello"))
    path = urls.model_method(MODEL, urls.STREAM)
    stream = await gateway.open_stream(MODEL, path, body=body, query={"alt": "sse"})
    chunks = stream.chunks()
    seen = b""
    while b"finishReason" not in seen:
        seen += await anext(chunks)
    for _ in range(1000):  # the end of the chunked body may come in a later read
        if stream._response.complete:
            break
        await asyncio.sleep(0)
    await chunks.aclose()  # the reader stops at the last chunk, before the iteration's end
    stream.close()
    await asyncio.sleep(0)
    assert upstream.pool.counts()["in_flight"] == 0
    ((_, _, usage),) = observer.served_for
    assert usage.prompt_tokens > 0 and requests_today(upstream) == 1

# -- embeddings --------------------------------------------------------------------------------
async def test_embeddings_fan_out_in_order_and_count_exact_tokens(upstream: Upstream) -> None:
    def batch(*texts: str) -> dict[str, object]:
        return {"requests": [{"model": "models/gemini-embedding-001", "content": {"parts": [{"text": t}]}}
                             for t in texts]}

    bodies = [batch("one", "two words"), batch("three little words")]
    embedded = await Embeddings(upstream.gateway).embed("gemini-embedding-001", bodies)
    assert [len(a["embeddings"]) for a in embedded.answers] == [2, 1]
    assert upstream.attempts.outcomes == ["ok", "ok"]  # no countTokens: each answer had its usage
    counted = 0
    for body in bodies:
        contents = [r["content"] for r in body["requests"]]  # type: ignore[index]
        answer = await upstream.gateway.call(
            MODEL, "POST", urls.model_method("gemini-embedding-001", urls.COUNT_TOKENS),
            body=orjson.dumps({"contents": contents}),
        )
        counted += orjson.loads(answer.raw)["totalTokens"]
    assert embedded.prompt_tokens == counted


class _AnswersWithoutUsage:
    """Google's batch answers as the REST reference shows them (no ``usageMetadata``); the
    simulator always reports usage, so this one stands in for the gateway."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.told: list[tuple[str, Success]] = []

    def counted(self, model: str, usage: Success) -> None:
        self.told.append((model, usage))

    async def call(self, model: str, method: str, path: str, *, body: bytes) -> Answer:
        self.paths.append(path.rsplit(":", 1)[1])
        count = len(orjson.loads(body).get("contents", ()))
        raw = {"totalTokens": 5 * count} if path.endswith(urls.COUNT_TOKENS) else {"embeddings": [{"values": [0.5]}]}
        return Answer(200, {}, orjson.dumps(raw), "key")


async def test_a_batch_answer_without_usage_is_counted_with_count_tokens_and_told_as_usage() -> None:
    gateway = _AnswersWithoutUsage()
    body = {"requests": [{"model": "models/e", "content": {"parts": [{"text": t}]}} for t in ("a", "b")]}
    embedded = await Embeddings(gateway).embed("e", [body])  # type: ignore[arg-type]
    assert gateway.paths == [urls.BATCH_EMBED, urls.COUNT_TOKENS]
    assert embedded.prompt_tokens == 10
    assert gateway.told == [("e", Success(prompt_tokens=10))]  # the client's usage and limits see them

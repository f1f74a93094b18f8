"""The Responses API through the real `openai` SDK, in process in front of the simulator.

Every body and stream the proxy sends is recorded at the transport and checked against OpenAI's
OpenAPI spec (``Response``, ``ResponseStreamEvent``, ``ResponseItemList``, ``TokenCountsResource``,
``ErrorResponse``) with the translation tests' validators.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx
import openai
import pydantic
import pytest

from tests.inprocess import Local, LocalServer
from tests.servers import SIM_KEYS, ServerProcess, replicas_on_redis
from tests.translate.helpers import assert_valid
from tests.translate.responses.helpers import check_events, check_response

TOKEN, OTHER = "client-token-a", "client-token-b"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather of a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}


class Recorder(httpx.BaseTransport):
    """Keeps every answer the proxy sends (the in-process transport buffers them whole)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.seen: list[tuple[httpx.Request, httpx.Response, bytes]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        body = response.read()
        self.seen.append((request, response, body))
        return httpx.Response(response.status_code, headers=response.headers, content=body, request=request)

    def check_all(self) -> int:
        """Validates everything seen so far against the spec; returns how many answers."""
        for request, response, body in self.seen:
            path = request.url.path
            if response.status_code >= 400:
                assert_valid("ErrorResponse", json.loads(body))
            elif response.headers.get("content-type", "").startswith("text/event-stream"):
                check_events(sse_events(body))
            elif path.endswith("/input_tokens"):
                assert_valid("TokenCountsResource", json.loads(body))
            elif path.endswith("/input_items"):
                assert_valid("ResponseItemList", json.loads(body))
            elif request.method == "DELETE":
                assert json.loads(body)["deleted"] is True
            else:
                check_response(json.loads(body))
        count = len(self.seen)
        self.seen.clear()
        return count


def sse_events(body: bytes) -> list[dict[str, Any]]:
    events = []
    for frame in body.decode().split("\n\n"):
        lines = frame.strip().splitlines()
        if not lines:
            continue
        assert lines[0].startswith("event: ") and lines[1].startswith("data: "), frame
        event = json.loads(lines[1][6:])
        assert event["type"] == lines[0][7:]
        events.append(event)
    return events


@pytest.fixture(scope="module")
def proxy(portal: anyio.from_thread.BlockingPortal) -> Iterator[LocalServer]:
    local = Local(portal)
    try:
        yield local.proxy(local.simulator(), auth_tokens=f"{TOKEN},{OTHER}")
    finally:
        local.close()


@pytest.fixture
def recorder(proxy: LocalServer) -> Iterator[Recorder]:
    recorder = Recorder(proxy.http._transport)
    yield recorder
    assert recorder.check_all() >= 0  # whatever the test left unchecked is checked too


def sdk(proxy: LocalServer, recorder: Recorder, token: str = TOKEN) -> openai.OpenAI:
    http = httpx.Client(transport=recorder, timeout=30)
    return openai.OpenAI(base_url=proxy.url + "/v1", api_key=token, max_retries=0, http_client=http)


@pytest.fixture
def client(proxy: LocalServer, recorder: Recorder) -> openai.OpenAI:
    return sdk(proxy, recorder)


def test_create(client: openai.OpenAI, recorder: Recorder) -> None:
    response = client.responses.create(model="gemini-2.5-flash", input="Hello there", instructions="Be brief.")
    assert response.id.startswith("resp_") and response.status == "completed"
    assert response.output_text == "[system: Be brief.] Simulated reply to turn 1: Hello there"
    assert response.usage is not None and response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens
    assert response.instructions == "Be brief." and response.store is True
    assert recorder.check_all() == 1


def test_stream(client: openai.OpenAI, recorder: Recorder) -> None:
    with client.responses.stream(model="gemini-2.5-flash", input="Stream this please") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text == "Simulated reply to turn 1: Stream this please"
    assert final.status == "completed"
    (_, response, body), = recorder.seen
    events = sse_events(body)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert recorder.check_all() == 1
    # The streamed response was stored like a unary one.
    assert client.responses.retrieve(final.id).output_text == final.output_text


class City(pydantic.BaseModel):
    name: str
    population: int
    coastal: bool


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
def test_web_search_cites_its_sources(client: openai.OpenAI, recorder: Recorder, stream: bool) -> None:
    ask: dict[str, Any] = {"model": "gemini-2.5-flash", "input": "who maintains starlette",
                           "tools": [{"type": "web_search"}], "include": ["web_search_call.action.sources"]}
    if stream:
        with client.responses.stream(**ask) as events:
            response = events.get_final_response()
    else:
        response = client.responses.create(**ask)
    assert [item.type for item in response.output] == ["message", "web_search_call"]
    search = response.output[1]
    assert search.status == "completed" and search.action.query == "who maintains starlette"
    assert [s.url for s in search.action.sources] == [c.url for c in response.output[0].content[0].annotations]
    text = response.output[0].content[0]
    citations = text.annotations
    assert [c.type for c in citations] == ["url_citation", "url_citation"]
    assert all(c.url.startswith("https://example.com/") and c.title == "example.com" for c in citations)
    assert citations[0].start_index == 0 and citations[0].end_index == len(text.text)
    assert recorder.check_all() == 1


def test_parse_with_a_pydantic_model(client: openai.OpenAI, recorder: Recorder) -> None:
    parsed = client.responses.parse(model="gemini-2.5-flash", input="A city, please", text_format=City)
    city = parsed.output_parsed
    assert isinstance(city, City)
    assert city.name == "name value" and city.population == 1 and city.coastal is True
    assert recorder.check_all() == 1


@pytest.mark.parametrize("model", ["gemini-2.5-flash", "gemini-3-flash-preview"])
def test_function_tool_round_trip(client: openai.OpenAI, recorder: Recorder, model: str) -> None:
    first = client.responses.create(model=model, input="Please call get_weather for Paris", tools=[WEATHER])
    calls = [item for item in first.output if item.type == "function_call"]
    assert [c.name for c in calls] == ["get_weather"]
    assert isinstance(json.loads(calls[0].arguments)["city"], str)
    # Stateless, as Codex: the whole history back, store false, reasoning with its signatures.
    stateless = client.responses.create(
        model=model,
        input=[
            {"role": "user", "content": "Please call get_weather for Paris"},
            *[item.model_dump(exclude_none=True) for item in first.output],
            {"type": "function_call_output", "call_id": calls[0].call_id, "output": '{"temp": 21}'},
        ],
        tools=[WEATHER],
        store=False,
        include=["reasoning.encrypted_content"],
    )
    assert stateless.output_text.endswith('function get_weather returned {"output":"{\\"temp\\": 21}"}')
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(stateless.id)
    # Stateful: only the output, after the stored response (its signatures stay on the proxy).
    follow = client.responses.create(
        model=model,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny"}],
        tools=[WEATHER],
    )
    assert follow.output_text.endswith('function get_weather returned {"output":"sunny"}')
    assert follow.previous_response_id == first.id
    assert recorder.check_all() == 4


def test_previous_response_id_sends_the_stored_conversation(client: openai.OpenAI, recorder: Recorder) -> None:
    first = client.responses.create(model="gemini-2.5-flash", input="My name is Ada")
    second = client.responses.create(model="gemini-2.5-flash", input="What is my name?", previous_response_id=first.id)
    # Turn 3: the first user turn, the model's answer, this input.
    assert second.output_text == "Simulated reply to turn 3: What is my name?"
    third = client.responses.create(model="gemini-2.5-flash", input="And again?", previous_response_id=second.id)
    assert third.output_text == "Simulated reply to turn 5: And again?"
    assert recorder.check_all() == 3


def test_get_delete_and_input_items(client: openai.OpenAI, recorder: Recorder) -> None:
    created = client.responses.create(
        model="gemini-2.5-flash",
        input=[
            {"role": "developer", "content": "Answer in English."},
            {"role": "user", "content": [{"type": "input_text", "text": "Hi"}]},
        ],
    )
    got = client.responses.retrieve(created.id)
    assert got.model_dump() == created.model_dump()
    items = client.responses.input_items.list(created.id)
    assert [item.role for item in items.data] == ["user", "developer"]  # newest first, as OpenAI
    asc = client.responses.input_items.list(created.id, order="asc", limit=1)
    assert [item.role for item in asc.data] == ["developer"] and asc.has_more
    client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError) as missing:
        client.responses.retrieve(created.id)
    assert missing.value.status_code == 404 and created.id in missing.value.message
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(created.id)
    assert recorder.check_all() == 7


def test_unknown_ids_are_openai_404s(client: openai.OpenAI, recorder: Recorder) -> None:
    with pytest.raises(openai.NotFoundError) as exc:
        client.responses.create(model="gemini-2.5-flash", input="hi", previous_response_id="resp_nope")
    assert exc.value.code == "previous_response_not_found" and exc.value.param == "previous_response_id"
    with pytest.raises(openai.NotFoundError):
        client.responses.input_items.list("resp_nope")
    assert recorder.check_all() == 2


def test_one_client_token_never_reads_another(proxy: LocalServer, recorder: Recorder) -> None:
    mine, theirs = sdk(proxy, recorder, TOKEN), sdk(proxy, recorder, OTHER)
    created = mine.responses.create(model="gemini-2.5-flash", input="secret plans")
    with pytest.raises(openai.NotFoundError):
        theirs.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        theirs.responses.create(model="gemini-2.5-flash", input="more", previous_response_id=created.id)
    with pytest.raises(openai.NotFoundError):
        theirs.responses.delete(created.id)
    assert mine.responses.retrieve(created.id).id == created.id
    recorder.check_all()


def test_input_tokens_is_countTokens_exactly(client: openai.OpenAI, proxy: LocalServer, recorder: Recorder) -> None:
    body = {"model": "gemini-2.5-flash", "input": "Count these words", "instructions": "Be brief.", "tools": [WEATHER]}
    counted = client.responses.input_tokens.count(**body)  # type: ignore[arg-type]
    created = client.responses.create(**body)  # type: ignore[arg-type]
    assert created.usage is not None
    assert counted.input_tokens == created.usage.input_tokens > 0
    assert recorder.check_all() == 2


def test_bad_input_is_an_openai_400(client: openai.OpenAI, recorder: Recorder) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        client.responses.create(model="gemini-2.5-flash", input="hi", tools=[{"type": "code_interpreter"}])  # type: ignore[list-item]
    assert exc.value.param == "tools[0].type"
    assert recorder.check_all() == 1


def test_unprefixed_route(proxy: LocalServer) -> None:
    headers = {"authorization": f"Bearer {TOKEN}"}
    answer = proxy.http.post("/responses", json={"model": "gemini-2.5-flash", "input": "hi"}, headers=headers)
    assert answer.status_code == 200 and answer.json()["object"] == "response"
    got = proxy.http.get(f"/responses/{answer.json()['id']}", headers=headers)
    assert got.json() == answer.json()


def test_all_keys_spent_gives_429_with_retry_after(portal: anyio.from_thread.BlockingPortal) -> None:
    local = Local(portal)
    try:
        sim = local.simulator()
        fresh = local.proxy(sim, max_wait=0)
        for key in SIM_KEYS:
            sim.http.post("/_sim/keys", json={"key": key, "state": "exhausted_minute", "retry_delay": "30s"})
        recorder = Recorder(fresh.http._transport)
        client = openai.OpenAI(base_url=fresh.url + "/v1", api_key="x", max_retries=0,
                               http_client=httpx.Client(transport=recorder))  # fmt: skip
        for stream in (False, True):
            with pytest.raises(openai.RateLimitError) as info:
                client.responses.create(model="gemini-2.5-flash", input="hi", stream=stream)
            assert 25 <= int(info.value.response.headers["retry-after"]) <= 31
        assert recorder.check_all() == 2
    finally:
        local.close()


def test_previous_response_id_across_two_replicas_on_redis(simulator: ServerProcess, tmp_path: Path) -> None:
    # Real proxies sharing a real redis-server: the follow-up lands on the other replica.
    with replicas_on_redis(simulator.url, tmp_path) as (_redis, first, second):
        one = openai.OpenAI(base_url=first.url + "/v1", api_key="x", max_retries=0)
        two = openai.OpenAI(base_url=second.url + "/v1", api_key="x", max_retries=0)
        with one.responses.stream(model="gemini-3-flash-preview", input="Call get_weather for Oslo",
                                  tools=[WEATHER]) as stream:  # fmt: skip
            created = stream.get_final_response()
        (call,) = [item for item in created.output if item.type == "function_call"]
        follow = two.responses.create(
            model="gemini-3-flash-preview",
            previous_response_id=created.id,
            input=[{"type": "function_call_output", "call_id": call.call_id, "output": "snow"}],
            tools=[WEATHER],
        )
        assert follow.output_text.endswith('function get_weather returned {"output":"snow"}')
        assert two.responses.retrieve(created.id).id == created.id
        one.responses.delete(follow.id)
        with pytest.raises(openai.NotFoundError):
            two.responses.retrieve(follow.id)

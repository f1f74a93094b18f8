"""The official `google-genai` SDK pointed at the proxy: native calls through the key pool."""

from __future__ import annotations

import httpx
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from tests.servers import SIM_KEYS, ServerProcess, start_proxy, start_simulator


@pytest.fixture
def client(proxy: ServerProcess) -> genai.Client:
    return genai.Client(api_key="client-credential", http_options=types.HttpOptions(base_url=proxy.url))


def test_generate(client: genai.Client) -> None:
    reply = client.models.generate_content(model="gemini-2.5-flash", contents="Hello native")
    assert reply.text == "Simulated reply to turn 1: Hello native"
    assert reply.usage_metadata is not None and reply.usage_metadata.total_token_count


def test_stream(client: genai.Client) -> None:
    chunks = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="Stream natively"))
    assert len(chunks) >= 2
    assert "".join(c.text or "" for c in chunks) == "Simulated reply to turn 1: Stream natively"


async def test_async_stream(client: genai.Client) -> None:
    stream = await client.aio.models.generate_content_stream(model="gemini-2.5-flash", contents="async native")
    text = "".join([c.text or "" async for c in stream])
    assert text == "Simulated reply to turn 1: async native"


def test_count_tokens(client: genai.Client, simulator: ServerProcess) -> None:
    counted = client.models.count_tokens(model="gemini-2.5-flash", contents="one two three")
    direct = httpx.post(
        simulator.url + "/v1beta/models/gemini-2.5-flash:countTokens",
        json={"contents": [{"role": "user", "parts": [{"text": "one two three"}]}]},
        headers={"x-goog-api-key": SIM_KEYS[0]},
    ).json()
    assert counted.total_tokens == direct["totalTokens"]


def test_embed(client: genai.Client) -> None:
    result = client.models.embed_content(
        model="gemini-embedding-001",
        contents=["first", "second"],
        config=types.EmbedContentConfig(output_dimensionality=8),
    )
    assert result.embeddings is not None and [len(e.values or []) for e in result.embeddings] == [8, 8]


def test_list_and_get_models(client: genai.Client) -> None:
    names = [m.name for m in client.models.list()]
    assert "models/gemini-2.5-flash" in names and "models/gemini-embedding-001" in names
    model = client.models.get(model="gemini-2.5-pro")
    assert model.name == "models/gemini-2.5-pro" and model.input_token_limit


def test_unknown_model_is_googles_404(client: genai.Client) -> None:
    with pytest.raises(genai_errors.ClientError) as info:
        client.models.generate_content(model="gemini-0-nothing", contents="x")
    assert info.value.code == 404 and info.value.status == "NOT_FOUND"


def test_chat_with_function_calling(client: genai.Client) -> None:
    def get_time(city: str) -> str:
        """The local time in a city."""
        return f"noon in {city}"

    chat = client.chats.create(
        model="gemini-3-flash-preview",
        config=types.GenerateContentConfig(tools=[get_time]),
    )
    reply = chat.send_message("Please call get_time for Oslo")
    # The SDK ran the function and sent its result back (with the call's thought signature).
    assert "function get_time returned" in (reply.text or "")


def test_context_cache_affinity(client: genai.Client, sim: ServerProcess) -> None:
    cache = client.caches.create(
        model="gemini-2.5-flash",
        config=types.CreateCachedContentConfig(contents=["a long shared document " * 20], ttl="300s"),
    )
    assert cache.name and cache.name.startswith("cachedContents/")
    # The cache belongs to one key's project; every later use must go to that key.
    for _ in range(4):
        reply = client.models.generate_content(
            model="gemini-2.5-flash",
            contents="question about the doc",
            config=types.GenerateContentConfig(cached_content=cache.name),
        )
        assert reply.usage_metadata is not None and reply.usage_metadata.cached_content_token_count
    assert client.caches.get(name=cache.name).name == cache.name
    client.caches.delete(name=cache.name)
    with pytest.raises(genai_errors.ClientError):
        client.caches.get(name=cache.name)


def test_json_array_stream_passes_through(proxy: ServerProcess) -> None:
    with httpx.stream(
        "POST",
        proxy.url + "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        json={"contents": [{"parts": [{"text": "array"}]}]},
    ) as response:
        assert response.status_code == 200
        body = response.read()
    assert body.startswith(b"[{") and body.rstrip().endswith(b"]")


def test_sse_framing_passes_through_byte_for_byte(proxy: ServerProcess, simulator: ServerProcess) -> None:
    request = {"contents": [{"parts": [{"text": "bytes"}]}]}
    via_proxy = httpx.post(proxy.url + "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", json=request)
    assert via_proxy.headers["content-type"].startswith("text/event-stream")
    events = via_proxy.content.split(b"\r\n\r\n")
    assert events[-1] == b"" and all(e.startswith(b"data: {") for e in events[:-1])


def test_bad_request_comes_back_as_google_sent_it(proxy: ServerProcess) -> None:
    response = httpx.post(
        proxy.url + "/v1beta/models/gemini-2.5-flash:generateContent",
        json={"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"effortLevel": 3}},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT" and 'Unknown name "effortLevel"' in error["message"]


def test_v1_paths_work_too(proxy: ServerProcess) -> None:
    response = httpx.post(
        proxy.url + "/v1/models/gemini-2.5-flash:generateContent", json={"contents": [{"parts": [{"text": "v1"}]}]}
    )
    assert response.status_code == 200, response.text


def test_v1_model_list_for_gemini_and_openai_clients(proxy: ServerProcess) -> None:
    google = httpx.get(proxy.url + "/v1/models", headers={"x-goog-api-key": "anything"}).json()
    assert "models" in google and google["models"][0]["name"].startswith("models/")
    openai_shape = httpx.get(proxy.url + "/v1/models").json()
    assert openai_shape["object"] == "list" and "models/" not in openai_shape["data"][0]["id"]
    one = httpx.get(proxy.url + "/v1/models/gemini-2.5-flash", headers={"x-goog-api-key": "anything"}).json()
    assert one["name"] == "models/gemini-2.5-flash"


@pytest.mark.parametrize("model", ["a%2Fb", "gemini%20flash", "gemini-2.5-flash%0A"])
def test_model_ids_that_are_not_safe_in_a_path_are_refused(
    proxy: ServerProcess, sim: ServerProcess, model: str
) -> None:
    response = httpx.post(
        f"{proxy.url}/v1beta/models/{model}:generateContent", json={"contents": [{"parts": [{"text": "x"}]}]}
    )
    assert 400 <= response.status_code < 500
    if "%0A" not in model:  # a newline does not even match a route (405 from the router)
        assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert httpx.get(sim.url + "/_sim/stats").json()["total"] == 0  # nothing reached Gemini


def test_cache_list_spans_every_project_of_the_pool() -> None:
    # Each simulator key is a project of its own, as are untagged keys in the pool: caches made
    # through the proxy land in several projects, and one made straight at Google in another.
    sim = start_simulator()
    proxy = start_proxy(sim.url)
    try:
        client = genai.Client(api_key="client-credential", http_options=types.HttpOptions(base_url=proxy.url))
        config = types.CreateCachedContentConfig(contents=["a long shared document " * 20], ttl="300s")
        made = {client.caches.create(model="gemini-2.5-flash", config=config).name for _ in range(4)}
        outside = httpx.post(
            sim.url + "/v1beta/cachedContents", headers={"x-goog-api-key": SIM_KEYS[2]},
            json={"model": "models/gemini-2.5-flash", "contents": [{"role": "user", "parts": [{"text": "x " * 50}]}]},
        ).json()["name"]
        seen_by_one_key = [
            httpx.get(f"{sim.url}/v1beta/{name}", headers={"x-goog-api-key": SIM_KEYS[0]}).status_code == 200
            for name in made
        ]
        assert not all(seen_by_one_key)  # one key alone does not see them all (Google: 403 for the others)
        everything = made | {outside}
        assert {c.name for c in client.caches.list()} == everything
        paged = [c.name for c in client.caches.list(config=types.ListCachedContentsConfig(page_size=2))]
        assert sorted(paged) == sorted(everything)  # every cache once, over several pages
        first = httpx.get(proxy.url + "/v1beta/cachedContents", params={"pageSize": 2}).json()
        assert len(first["cachedContents"]) == 2 and first["nextPageToken"]
        # A cache the proxy did not make is found by the list; it can then be read and deleted.
        assert client.caches.get(name=outside).name == outside
        client.caches.delete(name=outside)
        assert outside not in {c.name for c in client.caches.list()}
        bad = httpx.get(proxy.url + "/v1beta/cachedContents", params={"pageToken": "not-ours"})
        assert bad.status_code == 400 and bad.json()["error"]["status"] == "INVALID_ARGUMENT"
    finally:
        proxy.stop()
        sim.stop()

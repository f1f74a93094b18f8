"""`/v1/embeddings`, `/v1/models` and `/api/gemini/generate` through real clients."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.inprocess import Local
from tests.servers import ServerProcess


@pytest.fixture
def client(proxy: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy.url + "/v1", api_key="unused", max_retries=0)


def test_embeddings_default_base64(client: openai.OpenAI, proxy: ServerProcess) -> None:
    # The SDK asks for base64 and decodes it to floats.
    result = client.embeddings.create(model="gemini-embedding-001", input=["alpha", "beta"], dimensions=16)
    assert [len(d.embedding) for d in result.data] == [16, 16]
    assert [d.index for d in result.data] == [0, 1]
    as_floats = httpx.post(
        proxy.url + "/v1/embeddings",
        json={
            "model": "gemini-embedding-001",
            "input": ["alpha", "beta"],
            "dimensions": 16.0,  # JSON counts it as an integer, like 16
            "encoding_format": "float",
        },
    ).json()
    for decoded, plain in zip(result.data, as_floats["data"], strict=True):
        assert decoded.embedding == pytest.approx(plain["embedding"], rel=1e-6)
    assert result.usage.prompt_tokens == as_floats["usage"]["prompt_tokens"] > 0


def test_embeddings_single_string_and_default_dimension(client: openai.OpenAI) -> None:
    result = client.embeddings.create(model="text-embedding-004", input="hello", encoding_format="float")
    assert len(result.data) == 1 and len(result.data[0].embedding) == 768


def test_long_input_is_split_into_batches(client: openai.OpenAI, sim: ServerProcess) -> None:
    texts = [f"text number {i}" for i in range(250)]
    result = client.embeddings.create(model="gemini-embedding-001", input=texts, dimensions=4)
    assert len(result.data) == 250 and [d.index for d in result.data] == list(range(250))
    stats = httpx.get(sim.url + "/_sim/stats").json()
    assert stats["by_model"]["gemini-embedding-001"] == 3  # 100 + 100 + 50


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "gemini-embedding-001", "input": [1, 2, 3]}, "input"),
        ({"model": "gemini-embedding-001", "input": [[1, 2]]}, "input"),
        ({"model": "gemini-embedding-001"}, "input"),
        ({"model": "gemini-embedding-001", "input": ""}, "input"),
        ({"model": "gemini-embedding-001", "input": "x", "dimensions": 0}, "dimensions"),
        ({"model": "gemini-embedding-001", "input": "x", "encoding_format": "hex"}, "encoding_format"),
    ],
)
def test_embedding_bad_input(proxy: ServerProcess, body: dict, param: str) -> None:
    response = httpx.post(proxy.url + "/v1/embeddings", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_models_list_and_get(local: Local) -> None:
    proxy = local.proxy(local.simulator(), model_aliases="gpt-4o=gemini-2.5-flash")  # in process
    client = openai.OpenAI(base_url=proxy.url + "/v1", http_client=proxy.http, api_key="unused", max_retries=0)
    ids = [m.id for m in client.models.list()]
    assert "gemini-2.5-flash" in ids and "gemini-embedding-001" in ids and "gpt-4o" in ids
    model = client.models.retrieve("gemini-2.5-pro")
    assert model.id == "gemini-2.5-pro" and model.object == "model" and model.owned_by == "google"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-nothing")
    # An alias works for chat too.
    reply = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "alias"}])
    assert reply.model == "gpt-4o" and reply.choices[0].message.content


def test_simple_generate(proxy: ServerProcess) -> None:
    response = httpx.post(
        proxy.url + "/api/gemini/generate", json={"prompt": "simple hello", "system": "Be kind.", "max_tokens": 50}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["text"] == "[system: Be kind.] Simulated reply to turn 1: simple hello"
    assert body["finish_reason"] == "stop" and body["model"] == "gemini-2.5-flash"
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 400),
        ({"prompt": ""}, 400),
        ({"prompt": "x", "temperature": "hot"}, 400),
        ({"prompt": "x", "x": 1}, 400),
        ({"prompt": "x", "model": "gemini-0-nothing"}, 404),
    ],
)
def test_simple_generate_errors(proxy: ServerProcess, body: dict, status: int) -> None:
    response = httpx.post(proxy.url + "/api/gemini/generate", json=body)
    assert response.status_code == status, response.text
    assert set(response.json()["error"]) == {"message", "code"}


@pytest.mark.parametrize("prefix", ["/v1", ""], ids=["v1", "bare"])
def test_every_openai_route_answers_with_and_without_v1(proxy: ServerProcess, prefix: str) -> None:
    # Clients configured with a base URL without /v1 (LiteLLM's openai/ provider, some IDE plugins)
    # reach the same surface: chat, embeddings, the model list and one model.
    bare = openai.OpenAI(base_url=proxy.url + prefix, api_key="unused", max_retries=0)
    reply = bare.chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content
    assert len(bare.embeddings.create(model="gemini-embedding-001", input="hi").data[0].embedding) > 0
    listed = [m.id for m in bare.models.list()]
    assert "gemini-2.5-flash" in listed
    assert bare.models.retrieve("gemini-2.5-flash").id == "gemini-2.5-flash"
    with pytest.raises(openai.NotFoundError):
        bare.models.retrieve("gemini-9-ultra")
    # The model resource is read-only on both forms, in OpenAI's error shape.
    refused = httpx.post(f"{proxy.url}{prefix}/models/gemini-2.5-flash", json={})
    assert refused.status_code == 405 and refused.json()["error"]["type"] == "invalid_request_error"

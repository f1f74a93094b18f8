"""The official google-genai SDK against a running simulator."""

from __future__ import annotations

import pytest
from google import genai
from google.genai import errors, types

from tests.simulator.conftest import Sim


@pytest.fixture
def client(sim: Sim) -> genai.Client:
    return genai.Client(api_key="sim-key-1", http_options={"base_url": sim.base_url})


def test_sdk_generate_and_stream(client: genai.Client) -> None:
    r = client.models.generate_content(model="gemini-2.5-flash", contents="hello sdk")
    assert r.text == "Simulated reply to turn 1: hello sdk"
    assert r.usage_metadata is not None and r.usage_metadata.prompt_token_count == 2
    chunks = list(client.models.generate_content_stream(model="gemini-3-flash-preview", contents="hello sdk"))
    assert "".join(c.text or "" for c in chunks) == "Simulated reply to turn 1: hello sdk"
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP


def test_sdk_count_embed_models(client: genai.Client) -> None:
    assert client.models.count_tokens(model="gemini-2.5-flash", contents="a b c").total_tokens == 3
    emb = client.models.embed_content(
        model="gemini-embedding-001", contents=["a", "b"], config=types.EmbedContentConfig(output_dimensionality=64)
    )
    assert emb.embeddings is not None and [len(e.values or []) for e in emb.embeddings] == [64, 64]
    names = [m.name for m in client.models.list(config={"page_size": 5})]
    assert "models/gemini-2.5-pro" in names and len(names) > 5
    assert client.models.get(model="gemini-2.5-pro").thinking is True


def test_sdk_function_calling_and_structured(client: genai.Client) -> None:
    def get_weather(city: str) -> str:
        """Weather for a city."""
        return "sunny"

    r = client.models.generate_content(
        model="gemini-3-pro-preview",
        contents="get_weather for Paris",
        config=types.GenerateContentConfig(
            tools=[get_weather], automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True)
        ),
    )
    assert r.function_calls and r.function_calls[0].name == "get_weather"
    assert isinstance(r.function_calls[0].args["city"], str)

    from pydantic import BaseModel

    class Out(BaseModel):
        name: str
        count: int

    r = client.models.generate_content(
        model="gemini-2.5-flash",
        contents="json please",
        config=types.GenerateContentConfig(response_mime_type="application/json", response_schema=Out),
    )
    assert isinstance(r.parsed, Out)


def test_sdk_automatic_function_calling_round_trip(client: genai.Client) -> None:
    def get_weather(city: str) -> str:
        """Weather for a city."""
        return "sunny"

    r = client.models.generate_content(
        model="gemini-3-flash-preview",
        contents="call get_weather",
        config=types.GenerateContentConfig(tools=[get_weather]),
    )
    assert r.text is not None and "function get_weather returned" in r.text and "sunny" in r.text


def test_sdk_errors(sim: Sim) -> None:
    bad = genai.Client(api_key="sim-key-1", http_options={"base_url": sim.base_url})
    with pytest.raises(errors.ClientError) as info:
        bad.models.generate_content(model="no-such-model", contents="x")
    assert info.value.code == 404
    sim.config.fail_next(429, retry_delay="3s")
    with pytest.raises(errors.ClientError) as info:
        bad.models.generate_content(model="gemini-2.5-flash", contents="x")
    assert info.value.code == 429 and info.value.status == "RESOURCE_EXHAUSTED"

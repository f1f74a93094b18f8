"""Images by URL on the Anthropic and Responses surfaces, through their real SDKs, in process: the
proxy fetches them (the guard on private addresses lifted for a server on loopback), and refuses
them in the surface's own error shape when it cannot or may not."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.e2e.test_anthropic import sdk
from tests.e2e.test_media_and_cache import images  # noqa: F401  (fixture: a real image server on loopback)
from tests.inprocess import Local, LocalServer


@pytest.fixture
def allowed(local: Local) -> LocalServer:
    return local.proxy(local.simulator(), allow_private_media_urls=True, media_max_bytes=1000)


@pytest.fixture
def guarded(local: Local) -> LocalServer:
    return local.proxy(local.simulator())


def _claude(proxy: LocalServer, url: str | None) -> anthropic.types.Message:
    content: list[dict[str, Any]] = [{"type": "text", "text": "What is in it"}]
    if url is not None:
        content.insert(0, {"type": "image", "source": {"type": "url", "url": url}})
    return sdk(proxy).messages.create(model="gemini-2.5-flash", max_tokens=100,
                                      messages=[{"role": "user", "content": content}])  # type: ignore[arg-type]


def _responses(proxy: LocalServer, url: str | None) -> Any:
    content: list[dict[str, Any]] = [{"type": "input_text", "text": "What is in it"}]
    if url is not None:
        content.append({"type": "input_image", "image_url": url, "detail": "auto"})
    client = openai.OpenAI(base_url=proxy.url + "/v1", api_key="unused", max_retries=0,
                           http_client=httpx.Client(transport=proxy.http._transport))
    return client.responses.create(model="gemini-2.5-flash", store=False,
                                   input=[{"role": "user", "content": content}])  # type: ignore[list-item]


def test_anthropic_image_url_is_fetched_and_sent(allowed: LocalServer, images: str) -> None:  # noqa: F811
    with_image, without = _claude(allowed, images + "/pixel.png"), _claude(allowed, None)
    assert with_image.content[0].text == "Simulated reply to turn 1: What is in it"
    assert with_image.usage.input_tokens > without.usage.input_tokens  # the image reached Gemini
    with pytest.raises(anthropic.BadRequestError) as too_big:
        _claude(allowed, images + "/huge.png")
    assert "larger than 1000 bytes" in too_big.value.message
    assert too_big.value.body["error"]["type"] == "invalid_request_error"


def test_anthropic_image_url_on_a_private_address_is_refused(guarded: LocalServer, images: str) -> None:  # noqa: F811
    with pytest.raises(anthropic.BadRequestError) as refused:
        _claude(guarded, images + "/pixel.png")
    assert "private or local address" in refused.value.message


def test_responses_image_url_is_fetched_and_sent(allowed: LocalServer, images: str) -> None:  # noqa: F811
    with_image, without = _responses(allowed, images + "/pixel.png"), _responses(allowed, None)
    assert with_image.output_text == "Simulated reply to turn 1: What is in it"
    assert with_image.usage.input_tokens > without.usage.input_tokens
    with pytest.raises(openai.BadRequestError) as missing:
        _responses(allowed, images + "/nothing.png")
    assert missing.value.param is not None and "image_url" in missing.value.param


def test_responses_image_url_on_a_private_address_is_refused(guarded: LocalServer, images: str) -> None:  # noqa: F811
    with pytest.raises(openai.BadRequestError) as refused:
        _responses(guarded, images + "/pixel.png")
    assert "private or local address" in refused.value.message

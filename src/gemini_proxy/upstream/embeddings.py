"""Embeddings: ``batchEmbedContents`` calls sent side by side, and their exact token count.

The bodies come from the surface's pure translation (``translate.embeddings.to_batch_embed_bodies``
for OpenAI's ``/v1/embeddings``); the answers go back to it in the same order. Gemini's usage
is ``usageMetadata.promptTokenCount`` of each batch answer; a batch whose answer has none is
counted with ``countTokens`` (never an estimate), and that count told to the gateway as the
batch's usage (the client's usage and token limits, the tokens metric).

One request has at most ``in_flight`` batch calls upstream at once (a 2,048-text request is 21
batches): 100k inputs once opened ~1,000 calls side by side and held every answer at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from gemini_proxy.upstream import urls
from gemini_proxy.upstream.gateway import Answer, Gateway
from gemini_proxy.upstream.quota import Success


@dataclass(frozen=True, slots=True)
class Embedded:
    """The batch answers in the order of the bodies, and the prompt tokens of them all."""

    answers: list[dict[str, Any]]
    prompt_tokens: int


IN_FLIGHT = 4  # batch calls one request has upstream at once


class Embeddings:
    def __init__(self, gateway: Gateway, *, in_flight: int = IN_FLIGHT) -> None:
        self._gateway = gateway
        self._in_flight = in_flight

    async def embed(self, model: str, bodies: Sequence[dict[str, Any]]) -> Embedded:
        path = urls.model_method(model, urls.BATCH_EMBED)
        slots = asyncio.Semaphore(self._in_flight)

        async def call(body: dict[str, Any]) -> Answer:
            async with slots:
                return await self._gateway.call(model, "POST", path, body=orjson.dumps(body))

        answers = await asyncio.gather(*(call(body) for body in bodies))
        parsed = [_object(answer.json()) for answer in answers]
        tokens = 0
        for batch, answer in zip(bodies, parsed, strict=True):
            counted = prompt_tokens(answer)
            if counted is None:
                counted = await self._count_tokens(model, batch)
                self._gateway.counted(model, Success(prompt_tokens=counted))
            tokens += counted
        return Embedded(parsed, tokens)

    async def _count_tokens(self, model: str, batch: dict[str, Any]) -> int:
        contents = [request["content"] for request in batch["requests"]]
        answer = await self._gateway.call(
            model, "POST", urls.model_method(model, urls.COUNT_TOKENS), body=orjson.dumps({"contents": contents})
        )
        return int(_object(answer.json()).get("totalTokens", 0))


def prompt_tokens(answer: dict[str, Any]) -> int | None:
    """Tokens Gemini counted for one batch answer, or ``None`` if it did not say."""
    usage = answer.get("usageMetadata")
    if isinstance(usage, dict) and "promptTokenCount" in usage:
        return int(usage["promptTokenCount"])
    return None


def _object(parsed: Any) -> dict[str, Any]:
    return parsed if isinstance(parsed, dict) else {}

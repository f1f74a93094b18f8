"""Embeddings: ``batchEmbedContents`` calls sent side by side, and their exact token count.

The bodies come from the surface's pure translation (``translate.embeddings.to_batch_embed_bodies``
for OpenAI's ``/v1/embeddings``); the answers go back to it in the same order. Gemini's usage
is ``usageMetadata.promptTokenCount`` of each batch answer; a batch whose answer has none is
counted with ``countTokens`` (never an estimate).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from gemini_proxy.upstream import urls
from gemini_proxy.upstream.gateway import Gateway


@dataclass(frozen=True, slots=True)
class Embedded:
    """The batch answers in the order of the bodies, and the prompt tokens of them all."""

    answers: list[dict[str, Any]]
    prompt_tokens: int


class Embeddings:
    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    async def embed(self, model: str, bodies: Sequence[dict[str, Any]]) -> Embedded:
        path = urls.model_method(model, urls.BATCH_EMBED)
        answers = await asyncio.gather(*(self._gateway.call(model, "POST", path, body=orjson.dumps(b)) for b in bodies))
        parsed = [_object(answer.json()) for answer in answers]
        tokens = 0
        for batch, answer in zip(bodies, parsed, strict=True):
            counted = prompt_tokens(answer)
            if counted is None:
                counted = await self._count_tokens(model, batch)
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

"""OpenAI ``/v1/embeddings`` <-> Gemini ``batchEmbedContents``. Pure functions.

The request is split into upstream-sized batches (Google accepts at most 100 requests per batch
call). Sending the batches and counting their tokens is ``upstream/embeddings.py``'s work.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Sequence
from typing import Any

from gemini_proxy.errors import InvalidRequest, UpstreamStatusError

from .params import whole_number

MAX_BATCH = 100
MAX_INPUTS = 2048  # texts per request: OpenAI's own limit for /v1/embeddings
_ENCODINGS = ("float", "base64")


def embedding_inputs(body: dict[str, Any]) -> list[str]:
    """The texts to embed; token-id input is refused with a clear 400."""
    value = body.get("input")
    if isinstance(value, str):
        texts = [value]
    elif isinstance(value, list) and value:
        if len(value) > MAX_INPUTS:
            raise InvalidRequest(
                f"'input' has {len(value)} items; at most {MAX_INPUTS} texts can be embedded in one request.",
                param="input",
            )
        if all(isinstance(item, int) and not isinstance(item, bool) for item in value) or all(
            isinstance(item, list) for item in value
        ):
            raise InvalidRequest(
                "Token-id input is not supported: Gemini embeds text. Send 'input' as a string or a list of strings.",
                param="input",
            )
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise InvalidRequest(f"'input[{index}]' must be a string.", param=f"input[{index}]")
        texts = list(value)
    elif value is None:
        raise InvalidRequest("'input' is required: a string or a list of strings.", param="input")
    else:
        raise InvalidRequest("'input' must be a non-empty string or a non-empty list of strings.", param="input")
    for index, text in enumerate(texts):
        if not text:
            param = "input" if isinstance(value, str) else f"input[{index}]"
            raise InvalidRequest("'input' cannot contain an empty string.", param=param)
    return texts


def embedding_options(body: dict[str, Any]) -> tuple[int | None, str]:
    """``(dimensions, encoding_format)`` checked."""
    dimensions = body.get("dimensions")
    if dimensions is not None:
        dimensions = whole_number(dimensions)
        if dimensions is None or dimensions < 1:
            raise InvalidRequest("'dimensions' must be a positive integer.", param="dimensions")
    encoding = body.get("encoding_format") or "float"
    if encoding not in _ENCODINGS:
        raise InvalidRequest("'encoding_format' must be 'float' or 'base64'.", param="encoding_format")
    return dimensions, encoding


def to_batch_embed_bodies(
    texts: Sequence[str], *, model: str, dimensions: int | None, batch_size: int = MAX_BATCH
) -> list[dict[str, Any]]:
    """``batchEmbedContents`` bodies, at most ``batch_size`` texts each, in input order."""
    bodies = []
    for start in range(0, len(texts), batch_size):
        requests = []
        for text in texts[start : start + batch_size]:
            request: dict[str, Any] = {"model": f"models/{model}", "content": {"parts": [{"text": text}]}}
            if dimensions is not None:
                request["outputDimensionality"] = dimensions
            requests.append(request)
        bodies.append({"requests": requests})
    return bodies


def to_embedding_response(
    answers: Sequence[dict[str, Any]], *, model: str, encoding_format: str, prompt_tokens: int, expected: int
) -> dict[str, Any]:
    """OpenAI's list of embeddings from the batch answers, in input order."""
    data: list[dict[str, Any]] = []
    for answer in answers:
        for embedding in answer.get("embeddings") or []:
            values = embedding.get("values") or []
            vector: list[float] | str = _base64_floats(values) if encoding_format == "base64" else values
            data.append({"object": "embedding", "index": len(data), "embedding": vector})
    if len(data) != expected:
        raise UpstreamStatusError(
            502, {"error": {"message": f"Gemini returned {len(data)} embeddings for {expected} inputs."}}
        )
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


def _base64_floats(values: Sequence[float]) -> str:
    """Little-endian float32, base64: what the ``openai`` SDK decodes with ``np.frombuffer``."""
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")

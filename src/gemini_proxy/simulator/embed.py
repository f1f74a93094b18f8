"""Embeddings: deterministic, hash-seeded, L2-normalised vectors.

The full-size vector (the model's default dimension) comes from SHAKE-256 of
``model + "\\0" + text``; ``outputDimensionality`` takes its prefix and renormalises it, so
equal input gives equal vectors and a smaller dimension is a prefix direction of the larger.
"""

from __future__ import annotations

import hashlib
import math
import struct
from typing import Any

from gemini_proxy.simulator import errors, tokens
from gemini_proxy.simulator.catalog import ModelInfo


def content_text(content: dict[str, Any] | None) -> str:
    if not content:
        return ""
    return " ".join(p["text"] for p in content.get("parts") or () if isinstance(p.get("text"), str))


def vector(model: ModelInfo, text: str, dim: int | None) -> list[float]:
    full = model.embed_dim
    size = full if dim is None else dim
    raw = hashlib.shake_256(f"{model.id}\0{text}".encode()).digest(2 * full)
    ints = struct.unpack(f"<{size}H", raw[: 2 * size])
    values = [(i - 32767.5) / 32767.5 for i in ints]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 9) for v in values]


def check_dim(model: ModelInfo, dim: int | None, path: str) -> None:
    if dim is not None and not 1 <= dim <= model.embed_dim:
        raise errors.invalid_argument(
            f"* {path}: Output dimensionality must be between 1 and {model.embed_dim}.\n", path)


def embed_one(model: ModelInfo, body: dict[str, Any]) -> dict[str, Any]:
    dim = body.get("outputDimensionality")
    check_dim(model, dim, "EmbedContentRequest.output_dimensionality")
    return {"embedding": {"values": vector(model, content_text(body.get("content")), dim)}}


def embed_batch(model: ModelInfo, body: dict[str, Any]) -> dict[str, Any]:
    out, total = [], 0
    for i, req in enumerate(body.get("requests") or []):
        name = req.get("model")
        path = f"BatchEmbedContentsRequest.requests[{i}].model"
        if not isinstance(name, str) or not name.startswith("models/"):
            raise errors.invalid_argument(f"* {path}: unexpected model name format\n", path)
        if name != f"models/{model.id}":
            raise errors.invalid_argument(
                f"* {path}: Model {name} does not match the model in the request URL (models/{model.id}).\n", path)
        dim = req.get("outputDimensionality")
        check_dim(model, dim, f"BatchEmbedContentsRequest.requests[{i}].output_dimensionality")
        text = content_text(req.get("content"))
        total += tokens.text_tokens(text)
        out.append({"values": vector(model, text, dim)})
    return {
        "embeddings": out,
        "usageMetadata": {"promptTokenCount": total, "promptTokenDetails": [{"modality": "TEXT", "tokenCount": total}]},
    }

"""Gemini's URL paths, built in one place: every caller of the gateway names a resource here.

Paths only (the gateway's client adds the base URL and the query); a model id is checked before
it gets here (``translate.models.is_valid_model_id``), so it never carries a slash, colon or query.
"""

from __future__ import annotations

from typing import Literal

Version = Literal["v1beta", "v1"]

GENERATE = "generateContent"
STREAM = "streamGenerateContent"
COUNT_TOKENS = "countTokens"
BATCH_EMBED = "batchEmbedContents"
EMBED = "embedContent"
# The model methods the native surface forwards: those Google's Gemini API reference lists for
# generation, counting and embedding. Any other (``:predictLongRunning``, ``:generateAnswer``) is a 404.
NATIVE_METHODS = frozenset({GENERATE, STREAM, COUNT_TOKENS, EMBED, BATCH_EMBED})


def model_method(model: str, method: str, *, version: Version = "v1beta") -> str:
    """``/v1beta/models/{model}:{method}``: generate, stream, count, embed."""
    return f"/{version}/models/{model}:{method}"


def models(version: Version = "v1beta") -> str:
    """``/v1beta/models``: the model list."""
    return f"/{version}/models"


def model(name: str, *, version: Version = "v1beta") -> str:
    """``/v1beta/models/{name}``: one model's description."""
    return f"/{version}/models/{name}"


def cached_contents(version: Version = "v1beta") -> str:
    """``/v1beta/cachedContents``: create and list context caches."""
    return f"/{version}/cachedContents"


def cached_content(name: str, *, version: Version = "v1beta") -> str:
    """``/v1beta/cachedContents/{id}`` for ``name`` = ``cachedContents/{id}``."""
    return f"/{version}/{name}"

"""Model allow-lists: a client with ``models`` in the clients file may only use those models.

``api/asgi.py`` puts the request's allow-list in ``allowed_models`` (a context variable: a
request's tasks inherit it; the agent scheduler's tasks, started with the app, do not) when its
client has one. ``Gateway`` calls ``check_model`` with the model of every upstream call, so every
surface that reaches Gemini is covered in one place: OpenAI chat, embeddings and responses,
Anthropic messages and count_tokens, the native methods, the simple surface and MCP's
``ask_gemini``. The names compared are resolved ones: what the gateway sends to Google after
aliases (``GEMINI_PROXY_MODEL_ALIASES``, the Claude names) and the ``models/`` / ``google/``
prefixes are applied, so an alias is allowed exactly when the model it stands for is. The pool's
pseudo-models (listing models, managing caches) are not models and are not checked; creating a
cache checks the model named in its body (``upstream/caches.py``).
"""

from __future__ import annotations

from collections.abc import Collection
from contextvars import ContextVar
from dataclasses import dataclass

from gemini_proxy.errors import ModelNotAllowed

__all__ = ["PSEUDO_MODELS", "ModelScope", "allowed_models", "bare_model", "check_model", "is_allowed"]

# ``upstream.models.MODELS_LISTING`` and ``upstream.caches.CACHES``: the pool's own counters.
PSEUDO_MODELS = frozenset({"models:list", "cachedContents"})


@dataclass(frozen=True, slots=True)
class ModelScope:
    """A client's name (for the message) and the bare model ids it may use."""

    client: str
    models: frozenset[str]

    @classmethod
    def of(cls, client: str, models: Collection[str]) -> ModelScope:
        return cls(client, frozenset(bare_model(m) for m in models))


allowed_models: ContextVar[ModelScope | None] = ContextVar("gemini_proxy_allowed_models", default=None)


def bare_model(name: str) -> str:
    """``models/gemini-2.5-flash`` and ``google/gemini-2.5-flash`` are ``gemini-2.5-flash``."""
    for prefix in ("models/", "google/"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def is_allowed(model: str, scope: ModelScope | None) -> bool:
    return scope is None or bare_model(model) in scope.models


def check_model(model: str, scope: ModelScope | None = None) -> None:
    """Raises ``ModelNotAllowed`` (403) if ``model`` is not in ``scope`` (default: the request's)."""
    if scope is None:
        scope = allowed_models.get()
    if scope is None or model in PSEUDO_MODELS or bare_model(model) in scope.models:
        return
    allowed = ", ".join(sorted(scope.models)) or "none"
    raise ModelNotAllowed(
        f"The model {bare_model(model)!r} is not allowed for client {scope.client!r}; its models: {allowed}.",
        param="model",
    )

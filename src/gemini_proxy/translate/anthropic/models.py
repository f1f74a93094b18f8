"""Model names on the Anthropic surface: Gemini ids as given, Claude names through a table.

Claude Code asks for a main model and a small fast one by their Claude names. The operator maps
them with ``GEMINI_PROXY_ANTHROPIC_MODELS`` (the route passes the parsed table in). A key is either
a full name (``claude-sonnet-4-5-20250929``) or a class word (``opus``, ``sonnet``, ``haiku``)
matched against the dash-separated words of the name; a full name wins, then the longest word.
A Claude name the table does not map is a 404 naming the setting.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from gemini_proxy.errors import InvalidRequest, NotFound, shown

from ..models import resolve_model

SETTING = "GEMINI_PROXY_ANTHROPIC_MODELS"

DEFAULT_CLAUDE_MODELS: Mapping[str, str] = {
    "opus": "gemini-2.5-pro",
    "mythos": "gemini-2.5-pro",  # Anthropic's class above Opus
    "sonnet": "gemini-2.5-flash",
    "haiku": "gemini-2.5-flash-lite",
}
"""The default of ``GEMINI_PROXY_ANTHROPIC_MODELS``: Claude class -> Gemini model (stable ids)."""

_WORDS = re.compile(r"[-_.@\[\]/: ]+")
_VENDOR = ("anthropic/", "anthropic.")


def is_claude_name(name: str) -> bool:
    low = name.lower()
    for prefix in _VENDOR:
        low = low.removeprefix(prefix)
    return low.startswith("claude")


def resolve_anthropic_model(name: object, *, claude_models: Mapping[str, str], aliases: Mapping[str, str]) -> str:
    """The bare Gemini id for ``model``. Claude names go through ``claude_models``; anything else
    through the OpenAI surface's rules (``models/`` and ``google/`` prefixes, ``aliases``)."""
    if name is None or name == "":
        raise InvalidRequest("Field required", param="model")
    if not isinstance(name, str):
        raise InvalidRequest("model must be a string", param="model")
    if not is_claude_name(name):
        return resolve_model(name, aliases=aliases, default=None)
    target = claude_models.get(name)
    if target is None:
        words = set(_WORDS.split(name.lower()))
        for key in sorted(claude_models, key=len, reverse=True):
            if key.lower() in words:
                target = claude_models[key]
                break
    if target is None:
        raise NotFound(
            f"model {shown(name)} is not mapped to a Gemini model: map it (or its class, such as 'sonnet') "
            f"in {SETTING}",
            param="model",
            code="model_not_found",
        )
    return resolve_model(target, aliases={}, default=None)

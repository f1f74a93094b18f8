"""Model-name resolution and model-family facts used by the translation.

Clients send OpenAI-style names. We accept a bare Gemini id (``gemini-2.5-flash``), the
resource name (``models/gemini-2.5-flash``), the provider-prefixed form some routers use
(``google/gemini-2.5-flash``) and operator-defined aliases (``{"gpt-4o": "gemini-2.5-flash"}``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

from gemini_proxy.errors import InvalidRequest, shown

_PREFIXES = ("models/", "google/")
# Goes into the URL path ``/v1beta/models/{model}:generateContent``: no slash, colon, query or space.
_VALID_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,127}")
_VERSION = re.compile(r"gemini-(\d+)(?:\.(\d+))?")

Family = Literal["gemini-3", "gemini-2.5", "other"]


def resolve_model(name: str | None, *, aliases: Mapping[str, str], default: str | None) -> str:
    """Return the bare Gemini model id for what the client sent.

    Aliases are looked up on the name as sent and again after stripping a prefix; an alias
    value may itself carry a prefix. ``None``/empty falls back to ``default``.
    """
    if name is None or name == "":
        if not default:
            raise InvalidRequest("you must provide a model parameter", param="model")
        name = default
    if not isinstance(name, str):
        raise InvalidRequest("model must be a string", param="model")
    target = aliases.get(name)
    bare = _strip(name)
    if target is None:
        target = aliases.get(bare, bare)
    target = _strip(target)
    if _VALID_NAME.fullmatch(target) is None:
        raise InvalidRequest(f"invalid model name {shown(name)}", param="model", code="model_not_found")
    return target


def is_valid_model_id(name: str) -> bool:
    """A bare model id that is safe to put in an upstream URL path."""
    return _VALID_NAME.fullmatch(name) is not None


def _strip(name: str) -> str:
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def family(model: str) -> Family:
    """Thinking family of a bare model id.

    ``gemini-*-latest`` aliases without a version (``gemini-flash-latest``) currently point at
    Gemini 3 models (a recorded call came back as ``gemini-3.6-flash``), so they count as Gemini 3.
    """
    m = _VERSION.match(model)
    if m is None:
        return "gemini-3" if model.startswith("gemini-") and model.endswith("-latest") else "other"
    major = int(m.group(1))
    minor = int(m.group(2) or 0)
    if major >= 3:
        return "gemini-3"
    if major == 2 and minor >= 5:
        return "gemini-2.5"
    return "other"


def is_gemini3(model: str) -> bool:
    return family(model) == "gemini-3"


def tier(model: str) -> Literal["pro", "flash-lite", "flash"]:
    if "-pro" in model:
        return "pro"
    if "flash-lite" in model:
        return "flash-lite"
    return "flash"

"""Gemini's model list -> Anthropic's ``GET /v1/models`` shape (asked with ``anthropic-version``). Pure.

Anthropic lists ``{"type": "model", id, display_name, created_at}`` a page at a time: ``limit``
(1-1000, default 20), ``after_id`` / ``before_id`` cursors, ``has_more``, ``first_id``,
``last_id``. Models that generate content are listed, by their Gemini ids; Google gives no
creation date, so ``created_at`` is when the proxy fetched the list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from gemini_proxy.errors import InvalidRequest, NotFound, shown

from ..model_list import model_id

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000


def _entry(model: Mapping[str, Any], created_at: str) -> dict[str, Any]:
    ident = model_id(model)
    return {"type": "model", "id": ident, "display_name": str(model.get("displayName") or ident),
            "created_at": created_at}  # fmt: skip


def to_anthropic_models(gemini_models: Sequence[Mapping[str, Any]], *, created: float) -> list[dict[str, Any]]:
    stamp = datetime.fromtimestamp(int(created), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [_entry(m, stamp) for m in gemini_models if "generateContent" in (m.get("supportedGenerationMethods") or [])]


def to_anthropic_model_page(models: list[dict[str, Any]], query: Mapping[str, str]) -> dict[str, Any]:
    """One page of ``models`` as ``query`` (``limit``, ``after_id``, ``before_id``) asks for it."""
    raw = query.get("limit", str(DEFAULT_LIMIT))
    try:
        limit = int(raw)
    except ValueError:
        raise InvalidRequest(f"limit must be an integer, got {shown(raw)}", param="limit") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"limit must be between 1 and {MAX_LIMIT}", param="limit")
    ids = [m["id"] for m in models]
    start, end = 0, len(models)
    if "after_id" in query:
        start = _position(ids, query["after_id"], "after_id") + 1
        end = min(end, start + limit)
        has_more = end < len(models)
    elif "before_id" in query:
        end = _position(ids, query["before_id"], "before_id")
        start = max(0, end - limit)
        has_more = start > 0
    else:
        end = min(end, limit)
        has_more = end < len(models)
    page = models[start:end]
    return {"data": page, "has_more": has_more, "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None}  # fmt: skip


def _position(ids: list[str], wanted: str, param: str) -> int:
    try:
        return ids.index(wanted)
    except ValueError:
        raise InvalidRequest(f"{param} {shown(wanted)} is not a listed model", param=param) from None


def find_anthropic_model(models: list[dict[str, Any]], wanted: str) -> dict[str, Any]:
    bare = wanted.removeprefix("models/")
    for entry in models:
        if entry["id"] == bare:
            return entry
    raise NotFound(f"model: {shown(wanted)}", code="model_not_found")

"""Model-name resolution."""

from __future__ import annotations

import pytest

from gemini_proxy.errors import InvalidRequest
from gemini_proxy.translate import resolve_model
from gemini_proxy.translate.models import family

ALIASES = {"gpt-4o": "gemini-2.5-flash", "gpt-4o-mini": "models/gemini-2.5-flash-lite", "google/x": "gemini-2.0-flash"}


@pytest.mark.parametrize(
    ("name", "default", "expected"),
    [
        ("gemini-2.5-flash", None, "gemini-2.5-flash"),
        ("models/gemini-2.5-flash", None, "gemini-2.5-flash"),
        ("google/gemini-2.5-pro", None, "gemini-2.5-pro"),
        ("gpt-4o", None, "gemini-2.5-flash"),
        ("gpt-4o-mini", None, "gemini-2.5-flash-lite"),
        ("models/gpt-4o", None, "gemini-2.5-flash"),
        ("google/x", None, "gemini-2.0-flash"),
        (None, "gemini-2.5-flash", "gemini-2.5-flash"),
        ("", "models/gemini-3-flash-preview", "gemini-3-flash-preview"),
    ],
)
def test_resolve(name: str | None, default: str | None, expected: str) -> None:
    assert resolve_model(name, aliases=ALIASES, default=default) == expected


@pytest.mark.parametrize("name", [None, "gemini-2.5-flash:generateContent", "a/b/c", "models/", "x?key=1", 5])
def test_resolve_rejects(name: object) -> None:
    with pytest.raises(InvalidRequest) as info:
        resolve_model(name, aliases=ALIASES, default=None)  # type: ignore[arg-type]
    assert info.value.param == "model"


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gemini-2.5-flash", "gemini-2.5"),
        ("gemini-2.5-pro", "gemini-2.5"),
        ("gemini-3-flash-preview", "gemini-3"),
        ("gemini-3.1-pro-preview", "gemini-3"),
        ("gemini-flash-latest", "gemini-3"),
        ("gemini-2.0-flash", "other"),
        ("gemma-3-27b-it", "other"),
    ],
)
def test_family(model: str, expected: str) -> None:
    assert family(model) == expected

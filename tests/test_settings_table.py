"""The README's settings table is the settings: every one listed once, with its real default."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from gemini_proxy.config import Settings

README = Path(__file__).resolve().parents[1] / "README.md"
ROW = re.compile(r"^\| `(GEMINI_PROXY_[A-Z0-9_]+)` \| (.+?) \| (.+) \|$")
# Shown as what the empty default means rather than as the empty value.
SHOWN_AS_MEANING = {"GEMINI_PROXY_ANTHROPIC_MODELS"}
INTERNAL = {"GEMINI_PROXY_METRICS_DIR"}  # set by ``serve --workers N`` for its workers, not by users


def table() -> dict[str, tuple[str, str]]:
    rows: dict[str, tuple[str, str]] = {}
    for line in README.read_text().splitlines():
        match = ROW.match(line)
        if match:
            name, default, meaning = match.groups()
            assert name not in rows, f"{name} is listed twice"
            rows[name] = (default, meaning)
    return rows


def shown(value: Any) -> str:
    if value is None:
        return "(unset)"
    if value == "" and not isinstance(value, (int, float)):
        return "(empty)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    return f"`{value}`"


def test_every_setting_is_in_the_table_with_its_default() -> None:
    rows = table()
    fields = {f"GEMINI_PROXY_{name.upper()}": info for name, info in Settings.model_fields.items()}
    fields = {name: info for name, info in fields.items() if name not in INTERNAL}
    assert set(rows) == set(fields), (sorted(set(fields) - set(rows)), sorted(set(rows) - set(fields)))
    for name, info in fields.items():
        if name not in SHOWN_AS_MEANING:
            assert rows[name][0] == shown(info.default), (
                f"{name}: the table says {rows[name][0]}, the default is {info.default!r}"
            )

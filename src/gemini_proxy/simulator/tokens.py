"""The simulator's one deterministic token counter.

A text costs one token per whitespace-separated word (``len(text.split())``). Any other part
(inline data, function call/response, code) costs ``ceil(len(canonical JSON) / 4)`` where the
canonical JSON is the part's value serialised compactly with sorted keys. Tool declarations
count the same way. A prompt costs the sum over systemInstruction, contents and tools.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

_WORD = re.compile(r"\s*\S+")


def text_tokens(text: str) -> int:
    return len(text.split())


def json_tokens(value: Any) -> int:
    return -(-len(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)) // 4)


def part_tokens(part: dict[str, Any]) -> int:
    text = part.get("text")
    if text is not None:
        return len(text.split())
    data = {k: v for k, v in part.items() if k not in ("thought", "thoughtSignature")}
    return json_tokens(data) if data else 0


def content_tokens(content: dict[str, Any] | None) -> int:
    if not content:
        return 0
    return sum(part_tokens(p) for p in content.get("parts") or ())


def prompt_tokens(
    contents: list[dict[str, Any]],
    system: dict[str, Any] | None = None,
    tools: list[dict[str, Any]] | None = None,
) -> int:
    total = content_tokens(system) + sum(content_tokens(c) for c in contents)
    if tools:
        total += sum(json_tokens(t) for t in tools)
    return total


def truncate_words(text: str, n: int) -> str:
    """The first ``n`` tokens of ``text`` (original whitespace kept, leading included)."""
    if n <= 0:
        return ""
    out = []
    for i, m in enumerate(_WORD.finditer(text)):
        if i >= n:
            break
        out.append(m.group(0))
    return "".join(out)


def split_chunks(text: str, n: int) -> list[str]:
    """Split ``text`` into at most ``n`` non-empty pieces on word boundaries; they join back to ``text``."""
    words = _WORD.findall(text)
    tail = text[sum(len(w) for w in words) :]
    if not words:
        return [text] if text else []
    n = max(1, min(n, len(words)))
    size, extra = divmod(len(words), n)
    pieces, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        pieces.append("".join(words[start:end]))
        start = end
    pieces[-1] += tail
    return pieces

"""Token counts for the pool's per-key statistics, read from Gemini's ``usageMetadata``.

Unary answers are parsed; streams are scanned without parsing (the last counts seen win,
since Google's usage is cumulative and the final chunk's is the true one). These feed the
key statistics only; what a client is told comes from the translation of the parsed answer.
"""

from __future__ import annotations

import re

from gemini_proxy.upstream.quota import Success

_NO_USAGE = Success()
_COUNT = re.compile(rb'"(promptTokenCount|candidatesTokenCount|thoughtsTokenCount)"\s*:\s*(\d+)')


def usage_outcome(raw: bytes) -> Success:
    """``Success`` with the token counts of a unary answer, read from its bytes without parsing.

    ``usageMetadata`` follows the candidates, so only the text after its last mention is scanned.
    """
    start = raw.rfind(b'"usageMetadata"')
    if start < 0:
        return _NO_USAGE
    counts = dict(_COUNT.findall(raw, start))
    return Success(
        prompt_tokens=int(counts.get(b"promptTokenCount", 0)),
        output_tokens=int(counts.get(b"candidatesTokenCount", 0)) + int(counts.get(b"thoughtsTokenCount", 0)),
    )


class UsageScanner:
    """Keeps the last token counts seen in a stream's bytes."""

    __slots__ = ("_counts", "_tail")

    def __init__(self) -> None:
        self._counts: dict[bytes, int] = {}
        self._tail = b""

    def feed(self, data: bytes) -> None:
        # Keep a short tail so that a count split across two network chunks is still found.
        window = self._tail + data
        if b"TokenCount" in window:
            for match in _COUNT.finditer(window):
                self._counts[match.group(1)] = int(match.group(2))
        self._tail = window[-64:]

    def outcome(self) -> Success:
        counts = self._counts
        return Success(
            prompt_tokens=counts.get(b"promptTokenCount", 0),
            output_tokens=counts.get(b"candidatesTokenCount", 0) + counts.get(b"thoughtsTokenCount", 0),
        )

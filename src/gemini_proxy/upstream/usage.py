"""Token counts for the pool's per-key statistics, each client's usage and limits and the tokens
metric (``Metrics.served``), read from Gemini's ``usageMetadata``.

Neither unary answers nor streams are parsed for this: the counts after the last
``usageMetadata`` are read with one regular expression (Google's usage is cumulative and the
final chunk's is the true one). These feed the
key statistics and each client's usage and token limits; what a client is told comes from the
translation of the parsed answer.
"""

from __future__ import annotations

import re

from gemini_proxy.upstream.quota import Success

_NO_USAGE = Success()
_COUNT = re.compile(
    rb'"(promptTokenCount|toolUsePromptTokenCount|candidatesTokenCount|thoughtsTokenCount)"\s*:\s*(\d+)'
)


def usage_outcome(raw: bytes) -> Success:
    """``Success`` with the token counts of a unary answer, read from its bytes without parsing.

    ``usageMetadata`` follows the candidates, so only the text after its last mention is scanned.
    The prompt's count includes the tool-use prompt (what built-in tools read), as every surface
    tells its client.
    """
    start = raw.rfind(b'"usageMetadata"')
    if start < 0:
        return _NO_USAGE
    counts = dict(_COUNT.findall(raw, start))
    thoughts = int(counts.get(b"thoughtsTokenCount", 0))
    return Success(
        prompt_tokens=int(counts.get(b"promptTokenCount", 0)) + int(counts.get(b"toolUsePromptTokenCount", 0)),
        output_tokens=int(counts.get(b"candidatesTokenCount", 0)) + thoughts,
        thought_tokens=thoughts,
    )


# The final usageMetadata sits near the end of a stream: its last event's candidates come before it.
_TAIL = 8192


class UsageScanner:
    """Keeps the last token counts of a stream, scanning only once, at its end.

    Google's usage is cumulative and the final chunk's is the true one, so only the tail of the
    stream matters: its last ``_TAIL`` bytes are kept, however the network cut the reads.
    """

    __slots__ = ("_tail",)

    def __init__(self) -> None:
        self._tail = bytearray()

    def feed(self, data: bytes) -> None:
        self._tail += data
        if len(self._tail) > 2 * _TAIL:  # trimmed now and then, not copied on every chunk
            del self._tail[:-_TAIL]

    def outcome(self) -> Success:
        return usage_outcome(bytes(self._tail[-_TAIL:]))

"""Google Search grounding -> the sources each stretch of the answer rests on.

``groundingSupports`` give UTF-8 *byte* offsets into the candidate's whole answer text and the
``groundingChunks`` they rest on; the OpenAI surfaces want *character* offsets into one message's
text. ``citations`` does that conversion once for every surface, each of which puts the result
in its own shape (Chat's ``annotations``, the Responses ``url_citation`` annotations).
"""

from __future__ import annotations

from typing import NamedTuple


class Citation(NamedTuple):
    url: str
    title: str  # the source's title, or its URL when Google gave none
    start: int  # character offsets into the message's text
    end: int


def citations(grounding: object, text: str, start: int = 0, end: int | None = None) -> list[Citation]:
    """The sources of the message whose text is ``text[start:end]`` (characters; ``text`` is all
    the answer text that the byte offsets count over). One per (source, stretch), in Google's order."""
    if not isinstance(grounding, dict):
        return []
    chunks, supports = grounding.get("groundingChunks"), grounding.get("groundingSupports")
    if not isinstance(chunks, list) or not isinstance(supports, list):
        return []
    end = len(text) if end is None else end
    encoded = text.encode()
    out: list[Citation] = []
    seen: set[tuple[str, int, int]] = set()
    for support in supports:
        segment = support.get("segment") if isinstance(support, dict) else None
        indices = support.get("groundingChunkIndices") if isinstance(support, dict) else None
        if not isinstance(segment, dict) or not isinstance(indices, list):
            continue
        lo, hi = _char(encoded, segment.get("startIndex", 0)), _char(encoded, segment.get("endIndex", 0))
        if lo is None or hi is None or not start <= lo < end:
            continue
        for k in indices:
            chunk = chunks[k] if isinstance(k, int) and not isinstance(k, bool) and 0 <= k < len(chunks) else None
            web = chunk.get("web") if isinstance(chunk, dict) else None
            url = web.get("uri") if isinstance(web, dict) else None
            if not isinstance(url, str) or not url or (url, lo, hi) in seen:
                continue
            seen.add((url, lo, hi))
            title = web.get("title") if isinstance(web, dict) else None
            title = title if isinstance(title, str) and title else url
            out.append(Citation(url, title, lo - start, min(hi, end) - start))
    return out


def _char(encoded: bytes, offset: object) -> int | None:
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= len(encoded):
        return None
    return len(encoded[:offset].decode(errors="ignore"))

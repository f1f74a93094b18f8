"""Grounding supports (UTF-8 byte offsets over the whole answer) -> citations (character offsets
into one message), shared by the Chat and Responses surfaces."""

from __future__ import annotations

from typing import Any

import pytest

from gemini_proxy.translate.grounding import Citation, citations
from gemini_proxy.translate.response import url_annotations

CHUNKS = [{"web": {"uri": "https://a.example/", "title": "a.example"}}, {"web": {"uri": "https://b.example/"}}]


def _grounding(*supports: tuple[int, int, list[Any]]) -> dict[str, Any]:
    return {"groundingChunks": CHUNKS, "groundingSupports": [
        {"segment": {"startIndex": lo, "endIndex": hi}, "groundingChunkIndices": idx} for lo, hi, idx in supports
    ]}  # fmt: skip


TEXT = "héllo wörld. second"  # é and ö are two bytes each


@pytest.mark.parametrize(("grounding", "start", "end", "expected"), [
    # bytes 0..14 are the characters 0..12 ("héllo wörld.")
    (_grounding((0, 14, [0])), 0, None, [Citation("https://a.example/", "a.example", 0, 12)]),
    # a source without a title is titled by its URL; the same source and stretch is cited once
    (_grounding((0, 14, [1, 1])), 0, None, [Citation("https://b.example/", "https://b.example/", 0, 12)]),
    # a second message's text starts at character 13: offsets are relative to it, and clipped
    (_grounding((0, 14, [0]), (15, 21, [0])), 13, 19, [Citation("https://a.example/", "a.example", 0, 6)]),
    # offsets out of range, indexes out of range or not integers, odd shapes: nothing, no error
    (_grounding((0, 999, [0])), 0, None, []),
    (_grounding((0, 5, [7, True, "0"])), 0, None, []),
    ({"groundingChunks": "x", "groundingSupports": []}, 0, None, []),
    (None, 0, None, []),
])  # fmt: skip
def test_citations(grounding: object, start: int, end: int | None, expected: list[Citation]) -> None:
    assert citations(grounding, TEXT, start, end) == expected


def test_chat_annotations_are_openais_url_citation_shape() -> None:
    assert url_annotations(_grounding((0, 14, [0])), TEXT) == [{"type": "url_citation", "url_citation": {
        "url": "https://a.example/", "title": "a.example", "start_index": 0, "end_index": 12}}]  # fmt: skip

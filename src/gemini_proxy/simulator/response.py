"""Rendering a Plan as GenerateContentResponse objects: one unary body or stream chunks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gemini_proxy.simulator import tokens
from gemini_proxy.simulator.generate import CATEGORIES, Candidate, Plan

_NEGLIGIBLE = [{"category": c, "probability": "NEGLIGIBLE"} for c in CATEGORIES]
_BLOCKED = [{"category": CATEGORIES[0], "probability": "MEDIUM", "blocked": True}] + _NEGLIGIBLE[1:]
_CITATION = {"citationSources": [{"startIndex": 0, "endIndex": 64, "uri": "https://example.com/recited"}]}


@dataclass
class Piece:
    """One candidate's share of one stream chunk. ``content`` None = no content key."""

    content: dict[str, Any] | None
    out_tokens: int
    thought_tokens: int
    finish: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# Non-final stream chunks report a slightly different promptTokenCount, as real streams do
# (15→13, 55→257, 89→121 in recordings): only the final chunk's usage is the true one.
STREAM_PROMPT_DRIFT = 2


def usage(plan: Plan, out_tokens: int, thought_tokens: int, final: bool, interim: bool = False) -> dict[str, Any]:
    """usageMetadata. ``interim``: a non-final stream chunk (prompt count off by STREAM_PROMPT_DRIFT;
    on 2.0 no output counts yet, like fb-stream-text-basic.sse / pai-stream-text-crlf.sse)."""
    p = plan.prompt_tokens + (STREAM_PROMPT_DRIFT if interim else 0)
    if interim and plan.family == "2.0":
        out_tokens = 0
    u: dict[str, Any] = {"promptTokenCount": p}
    if out_tokens:
        u["candidatesTokenCount"] = out_tokens
    u["totalTokenCount"] = p + out_tokens + thought_tokens
    if plan.cached_tokens:
        u["cachedContentTokenCount"] = plan.cached_tokens
    u["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": p - plan.cached_tokens}]
    if plan.cached_tokens:
        u["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": plan.cached_tokens}]
    if final and out_tokens and plan.family == "2.0":
        u["candidatesTokensDetails"] = [{"modality": "TEXT", "tokenCount": out_tokens}]
    if thought_tokens:
        u["thoughtsTokenCount"] = thought_tokens
    if plan.usage:
        u.update(plan.usage)
    return u


def _content(parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"parts": parts, "role": "model"}


def _finish_extra(cand: Candidate) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if cand.finish_message:
        extra["finishMessage"] = cand.finish_message
    if cand.blocked == "SAFETY":
        extra["safetyRatings"] = _BLOCKED
    elif cand.blocked == "RECITATION":
        extra["citationMetadata"] = _CITATION
    if cand.grounding is not None:
        extra["groundingMetadata"] = cand.grounding
    if cand.url_context is not None:
        extra["urlContextMetadata"] = cand.url_context
    return extra


def pieces(cand: Candidate, n_chunks: int, gemini3: bool) -> list[Piece]:
    out: list[Piece] = []
    t_total = cand.thought_tokens
    for k, thought in enumerate(cand.thoughts):
        share = t_total * (k + 1) // len(cand.thoughts)
        out.append(Piece(_content([{"text": thought, "thought": True}]), 0, share))
    extra = _finish_extra(cand)
    if cand.blocked == "SAFETY":
        return [*out, Piece({}, 0, t_total, cand.finish, extra)]
    if cand.text is None and not cand.calls:
        return [*out, Piece({"role": "model"}, 0, t_total, cand.finish, extra)]
    if cand.calls:
        if gemini3:
            out.append(Piece(_content(cand.calls), cand.output_tokens, t_total))
            out.append(Piece(_content([{"text": ""}]), cand.output_tokens, t_total, cand.finish, extra))
        else:
            out.append(Piece(_content(cand.calls), cand.output_tokens, t_total, cand.finish, extra))
        return out
    text = cand.text or ""
    seen = 0
    if cand.tool_parts:  # the code and its result come whole, before the answer's text
        seen = sum(tokens.part_tokens(p) for p in cand.tool_parts)
        out.append(Piece(_content([dict(p) for p in cand.tool_parts]), seen, t_total))
    chunks = tokens.split_chunks(text, n_chunks) or [""]
    for chunk in chunks:
        seen += tokens.text_tokens(chunk)
        out.append(Piece(_content([{"text": chunk}]), seen, t_total))
    if cand.blocked == "RECITATION":
        out.append(Piece(None, seen, t_total, cand.finish, extra))
    elif gemini3:
        last: dict[str, Any] = {"text": ""}
        if cand.end_signature:
            last["thoughtSignature"] = cand.end_signature
        out.append(Piece(_content([last]), seen, t_total, cand.finish, extra))
    else:
        out[-1].finish, out[-1].extra = cand.finish, extra
    return out


def _candidate_json(index: int, piece: Piece, with_index: bool) -> dict[str, Any]:
    c: dict[str, Any] = {}
    if piece.content is not None:
        c["content"] = piece.content
    if piece.finish:
        c["finishReason"] = piece.finish
    if with_index:
        c["index"] = index
    if piece.finish:
        c.update(piece.extra)
    return c


# the category order and fields of cookbook-unary-prompt-blocked.json / fb-stream-prompt-blocked.sse
_PROMPT_BLOCKED_RATINGS = [
    {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "HIGH"},
    {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "NEGLIGIBLE"},
]


def _blocked_prompt() -> dict[str, Any]:
    """A blocked prompt: only ``promptFeedback`` (no candidates, usage, modelVersion or responseId),
    exactly like both recordings."""
    return {"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": [dict(r) for r in _PROMPT_BLOCKED_RATINGS]}}


def stream_chunks(plan: Plan, n_chunks: int) -> list[dict[str, Any]]:
    """The stream as a list of complete GenerateContentResponse objects."""
    if plan.prompt_blocked:
        return [_blocked_prompt()]
    gemini3 = plan.family == "3"
    with_index = plan.family != "2.0" or len(plan.candidates) > 1
    per = [pieces(c, n_chunks, gemini3) for c in plan.candidates]
    length = max(len(p) for p in per)
    chunks: list[dict[str, Any]] = []
    for k in range(length):
        cands, out_tokens, thought_tokens = [], 0, 0
        for cand, seq in zip(plan.candidates, per, strict=True):
            latest = seq[min(k, len(seq) - 1)]
            out_tokens += latest.out_tokens
            thought_tokens += latest.thought_tokens
            if k < len(seq):
                cands.append(_candidate_json(cand.index, seq[k], with_index))
        chunks.append({
            "candidates": cands,
            "usageMetadata": usage(plan, out_tokens, thought_tokens, k == length - 1, interim=k < length - 1),
            "modelVersion": plan.model_version,
            "responseId": plan.response_id,
        })
    return chunks


def unary(plan: Plan) -> dict[str, Any]:
    if plan.prompt_blocked:
        return _blocked_prompt()
    gemini3 = plan.family == "3"
    with_index = plan.family != "2.0" or len(plan.candidates) > 1
    cands = []
    for cand in plan.candidates:
        extra = _finish_extra(cand)
        parts: list[dict[str, Any]] = []
        if cand.thoughts:
            parts.append({"text": "".join(cand.thoughts), "thought": True})
        piece = Piece(None, 0, 0, cand.finish, extra)
        if cand.blocked == "SAFETY":
            piece.content = {}
        elif cand.calls:
            piece.content = _content(parts + cand.calls)
        elif cand.text is not None and cand.blocked != "RECITATION":
            answer: dict[str, Any] = {"text": cand.text}
            if gemini3 and cand.end_signature:
                answer["thoughtSignature"] = cand.end_signature
            piece.content = _content([*parts, *cand.tool_parts, answer])
        elif cand.blocked != "RECITATION":
            piece.content = {"role": "model"}
        c = _candidate_json(cand.index, piece, with_index)
        if plan.family == "2.0" and cand.blocked is None:
            c["safetyRatings"] = _NEGLIGIBLE
        cands.append(c)
    return {
        "candidates": cands,
        "usageMetadata": usage(plan, plan.output_tokens, plan.thought_tokens, True),
        "modelVersion": plan.model_version,
        "responseId": plan.response_id,
    }

"""``ChatStreamTranslator``: Gemini stream chunks -> ``chat.completion.chunk`` dicts. No I/O.

The route parses each Gemini event, calls ``feed`` and writes what comes back; at the end it
calls ``finish`` and writes ``data: [DONE]``. Behaviour:

* every chunk carries the same ``id``/``created``/``model``; ``usage: null`` is present on each
  chunk only when ``include_usage`` (as OpenAI does), then one last chunk with ``choices: []``
  and the usage of the *final* Gemini chunk (counts change between chunks);
* the first delta of a choice carries ``role: "assistant"``; text goes out as it arrives;
  thought summaries become ``reasoning_content`` deltas (only with ``include_thoughts``);
* function calls arrive whole from Gemini and go out as one tool-call delta (``index`` = running
  number within the choice, ``id``, ``type``, ``name``, complete ``arguments``, signature in
  ``extra_content``); with ``parallel_tool_calls: false`` only the first is sent;
* an empty text part (Gemini 3's final ``{"text": ""}``) is not sent; a signature on a non-call
  part is kept in ``text_signatures`` (choice index -> signature) for the route;
* finish reasons are held until ``finish``: Gemini 2024 models put ``STOP`` on every chunk, so the
  last one seen wins. ``finish`` sends one ``delta: {}`` chunk per choice;
* with ``web_search_options``, the finish chunk's delta carries the ``annotations`` (Google
  Search grounding arrives with Gemini's last chunk), as the unary message has them;
* a prompt block (``promptFeedback.blockReason``, no candidates) sends a refusal delta and
  finishes with ``content_filter``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gemini_proxy.errors import ProxyError

from .call import ChatCall
from .candidates import block_refusal, filter_refusal, finish_reason, image, logprobs, parts_of, tool_call
from .errors import error_to_openai
from .openai_types import Delta, FinishReason
from .response import url_annotations
from .usage import to_usage


class _Choice:
    __slots__ = ("started", "tools", "reason", "finish_message", "text_signature", "blocked", "text", "grounding")

    def __init__(self) -> None:
        self.started = False
        self.tools = 0
        self.reason: object = None
        self.finish_message: object = None
        self.text_signature: str | None = None
        self.blocked = False
        self.text = ""  # the answer text so far, for grounding's offsets (only with web search)
        self.grounding: object = None


class ChatStreamTranslator:
    def __init__(self, call: ChatCall, *, completion_id: str, created: int, new_call_id: Callable[[], str]) -> None:
        self._call = call
        self._id = completion_id
        self._created = created
        self._new_call_id = new_call_id
        self._choices: dict[int, _Choice] = {}
        self._usage: object = None
        self._signatures: dict[str, str] = {}
        self._finished = False

    @property
    def signatures(self) -> dict[str, str]:
        """tool_call id -> thought signature for every call sent so far."""
        return self._signatures

    def _chunk(self, index: int, delta: Delta, reason: FinishReason | None = None,
               lp: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
        chunk: dict[str, Any] = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._call.requested_model,
            "choices": [{"index": index, "delta": delta, "logprobs": lp, "finish_reason": reason}],
        }
        if self._call.include_usage:
            chunk["usage"] = None
        return chunk

    def _delta(self, state: _Choice, delta: Delta) -> Delta:
        if not state.started:
            state.started = True
            return {"role": "assistant", **delta}
        return delta

    def feed(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        """One parsed Gemini stream chunk -> zero or more ``chat.completion.chunk`` dicts."""
        if not isinstance(chunk, dict):
            return []
        if "usageMetadata" in chunk:
            self._usage = chunk["usageMetadata"]
        out: list[dict[str, Any]] = []
        candidates = chunk.get("candidates")
        if not isinstance(candidates, list) or not candidates:
            refusal = block_refusal(chunk)
            if refusal is not None:
                state = self._choices.setdefault(0, _Choice())
                state.blocked = True
                out.append(self._chunk(0, self._delta(state, {"content": None, "refusal": refusal})))
            return out
        call = self._call
        for pos, cand in enumerate(candidates):
            if not isinstance(cand, dict):
                continue
            index = cand.get("index", pos)
            index = index if isinstance(index, int) else pos
            state = self._choices.setdefault(index, _Choice())
            if cand.get("finishReason"):
                state.reason = cand["finishReason"]
                state.finish_message = cand.get("finishMessage")
            if call.web_search and "groundingMetadata" in cand:
                state.grounding = cand["groundingMetadata"]
            lp = logprobs(cand) if call.logprobs else None
            for part in parts_of(cand):
                if not isinstance(part, dict):
                    continue
                delta: Delta
                if "functionCall" in part:
                    if (call.legacy_functions or not call.parallel_tool_calls) and state.tools:
                        continue  # only the first call is passed on: no id, no remembered signature for others
                    tc = tool_call(part, self._new_call_id)
                    if "extra_content" in tc:
                        self._signatures[tc["id"]] = tc["extra_content"]["google"]["thought_signature"]
                    if call.legacy_functions:
                        delta = {"function_call": tc["function"]}
                    else:
                        delta = {"tool_calls": [{"index": state.tools, **tc}]}
                    state.tools += 1
                else:
                    sig = part.get("thoughtSignature")
                    if isinstance(sig, str) and sig:
                        state.text_signature = sig
                    text = part.get("text")
                    if isinstance(text, str):
                        if not text:
                            continue
                        if part.get("thought") is True:
                            if not call.include_thoughts:
                                continue
                            delta = {"reasoning_content": text}
                        else:
                            delta = {"content": text}
                            if call.web_search:
                                state.text += text
                    elif (img := image(part)) is not None:
                        delta = {"images": [img]}
                    else:
                        continue
                out.append(self._chunk(index, self._delta(state, delta), lp=lp))
                lp = None
        return out

    def finish(self) -> list[dict[str, Any]]:
        """Finish chunk per choice (+ the ``include_usage`` chunk). Idempotent."""
        if self._finished:
            return []
        self._finished = True
        if not self._choices:
            for i in range(max(1, self._call.n)):
                self._choices[i] = _Choice()
        out: list[dict[str, Any]] = []
        for index in sorted(self._choices):
            state = self._choices[index]
            reason: FinishReason = (
                "content_filter"
                if state.blocked
                else finish_reason(state.reason, has_calls=state.tools > 0, legacy=self._call.legacy_functions)
            )
            if not state.started:
                first: Delta = {"content": ""}
                if reason == "content_filter":  # blocked before any text: say why, as the unary answer does
                    cand = {"finishReason": state.reason, "finishMessage": state.finish_message}
                    first = {"content": None, "refusal": filter_refusal(cand)}
                out.append(self._chunk(index, self._delta(state, first)))
            last: Delta = {}
            if state.text_signature is not None:  # a text part's thought signature, as the unary answer has it
                last = {"extra_content": {"google": {"thought_signature": state.text_signature}}}  # type: ignore[typeddict-unknown-key]
            if self._call.web_search:  # Gemini sends grounding with the last chunk: the sources go out at the end
                last["annotations"] = url_annotations(state.grounding, state.text)  # type: ignore[typeddict-unknown-key]
            out.append(self._chunk(index, last, reason))
        if self._call.include_usage:
            out.append({
                "id": self._id,
                "object": "chat.completion.chunk",
                "created": self._created,
                "model": self._call.requested_model,
                "choices": [],
                "usage": to_usage(self._usage),
            })  # fmt: skip
        return out

    def error_chunk(self, exc: ProxyError) -> dict[str, Any]:
        """The ``{"error": {...}}`` event to write when the stream fails midway."""
        return error_to_openai(exc)[1]

"""``ResponsesStreamTranslator``: Gemini chunks -> Responses stream events. No I/O.

``start()`` gives ``response.created`` + ``response.in_progress`` (``feed`` gives them first if
``start`` was not called); ``feed(chunk)`` the events for one parsed Gemini chunk; ``finish()``
closes what is open and ends with ``response.completed`` or ``response.incomplete``; ``fail(exc)``
ends with ``response.failed``. Every event has a ``sequence_number`` (0, 1, ...). After the end,
``result`` holds the final ``response`` object and the conversation through it. The unary answer
goes through the same accumulator (``response.to_response``), so both agree item for item.

Output items, in the order their first part arrives:

* ``reasoning`` (``rs_...``): opened by the first thought summary when ``reasoning.summary`` was
  asked (one ``summary_text`` part, deltas as they come), or by the first thought signature when
  ``include`` has ``reasoning.encrypted_content``; closed at the end (signatures may arrive with
  the last chunk), with ``encrypted_content`` when asked for.
* ``message`` (``msg_...``): one ``output_text`` part, deltas as they come; closed when a
  function call follows or at the end, with ``url_citation`` annotations from grounding. A
  blocked prompt or a filtered answer without text gives a ``refusal`` part instead.
* ``function_call`` (``fc_...``, ``call_id`` ``call_...``): Gemini sends each call whole, so
  one arguments delta carries all of it; ``namespace`` is set for namespaced tools.
  ``parallel_tool_calls: false`` keeps the first call only.
* ``web_search_call`` (``ws_...``, with the ``web_search`` tool): one per query Google searched,
  completed, after the message (Gemini sends grounding with its last chunk); ``action.sources``
  when ``include`` asks for them.

Only the first candidate is read (Responses has no ``n``); ``inlineData`` output is dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from gemini_proxy.errors import ProxyError

from ..candidates import block_refusal, filter_refusal, finish_reason, parts_of
from ..gemini_types import Part
from .call import ResponsesCall
from .response import ResponsesResult, envelope, error_event, failure, url_citations
from .signatures import TurnSignatures, encode

Event = dict[str, Any]


def sse(event: Event) -> bytes:
    """``event: <type>\\ndata: <json>\\n\\n``."""
    kind: str = event["type"]
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


class ResponsesStreamTranslator:
    def __init__(
        self, call: ResponsesCall, *, response_id: str, created_at: int, new_id: Callable[[str], str],
        quiet: bool = False,
    ) -> None:
        self._call = call
        self._quiet = quiet  # a unary answer: only ``result`` is wanted, no event snapshots are made
        self._id = response_id
        self._created = created_at
        self._new_id = new_id
        self._seq = 0
        self._started = False
        self._ended = False
        self._output: list[dict[str, Any]] = []
        self._open: list[int] = []  # output indexes not yet done
        self._reasoning: int | None = None
        self._summary = ""
        self._message: int | None = None
        self._text = ""  # all answer text so far (grounding offsets count over it)
        self._starts: dict[int, int] = {}  # message index -> where its text starts in _text
        self._calls = 0
        self._sigs = TurnSignatures()
        self._turn: list[Part] = []  # the model turn for the stored conversation
        self._new_calls: dict[str, str] = {}
        self._usage: object = None
        self._reason: object = None
        self._finish_message: object = None
        self._grounding: object = None
        self._blocked: str | None = None
        self._result: ResponsesResult | None = None

    # -- events -------------------------------------------------------------------------------

    def _event(self, type_: str, **fields: Any) -> Event:
        event = {"type": type_, "sequence_number": self._seq, **fields}
        self._seq += 1
        return event

    def _snapshot(self, status: str, **kw: Any) -> dict[str, Any]:
        # Once ended the items no longer change; before, an event gets a copy of them.
        output = self._output if self._ended else [_copy(item) for item in self._output]
        return envelope(self._call, response_id=self._id, created_at=self._created, status=status,
                        output=output, usage_meta=self._usage, **kw)  # fmt: skip

    def start(self) -> list[Event]:
        if self._started:
            return []
        self._started = True
        if self._quiet:
            return []
        body = self._snapshot("in_progress")
        created = self._event("response.created", response=body)
        body = self._snapshot("in_progress")
        return [created, self._event("response.in_progress", response=body)]

    def _add(self, item: dict[str, Any], out: list[Event]) -> int:
        index = len(self._output)
        self._output.append(item)
        self._open.append(index)
        if not self._quiet:
            out.append(self._event("response.output_item.added", output_index=index, item=_copy(item)))
        return index

    def _done(self, index: int, out: list[Event]) -> None:
        self._open.remove(index)
        if not self._quiet:
            out.append(self._event("response.output_item.done", output_index=index, item=_copy(self._output[index])))

    # -- feeding ------------------------------------------------------------------------------

    def feed(self, chunk: dict[str, Any]) -> list[Event]:
        """One parsed Gemini chunk (or a whole unary answer) -> events."""
        out = self.start()
        if not isinstance(chunk, dict) or self._ended:
            return out
        if "usageMetadata" in chunk:
            self._usage = chunk["usageMetadata"]
        candidates = chunk.get("candidates")
        if not isinstance(candidates, list) or not candidates:
            refusal = block_refusal(chunk)
            if refusal is not None:
                self._blocked = refusal
            return out
        cand = candidates[0]
        if not isinstance(cand, dict):
            return out
        if cand.get("finishReason"):
            self._reason, self._finish_message = cand["finishReason"], cand.get("finishMessage")
        if "groundingMetadata" in cand:
            self._grounding = cand["groundingMetadata"]
        for part in parts_of(cand):
            if isinstance(part, dict):
                self._part(part, out)
        return out

    def _part(self, part: dict[str, Any], out: list[Event]) -> None:
        call = self._call
        sig = part.get("thoughtSignature")
        sig = sig if isinstance(sig, str) and sig else None
        if "functionCall" in part:
            if not call.parallel_tool_calls and self._calls:
                return
            self._function_call(part["functionCall"], sig, out)
            return
        text = part.get("text")
        if not isinstance(text, str):
            return
        if sig is not None:
            self._sigs.text = sig
            if call.include_encrypted:
                self._open_reasoning(out)
        if part.get("thought") is True:
            if call.include_thoughts and text:
                self._thought(text, out)
            return
        if self._turn and "text" in self._turn[-1]:
            self._turn[-1]["text"] += text
        elif text:
            self._turn.append({"text": text})
        if text:
            self._answer_text(text, out)

    def _open_reasoning(self, out: list[Event]) -> int:
        if self._reasoning is None:
            item: dict[str, Any] = {"id": self._new_id("rs"), "type": "reasoning", "summary": []}
            if self._call.include_encrypted:
                item["encrypted_content"] = None
            self._reasoning = self._add(item, out)
        return self._reasoning

    def _thought(self, text: str, out: list[Event]) -> None:
        index = self._open_reasoning(out)
        item = self._output[index]
        if not item["summary"]:
            item["summary"].append({"type": "summary_text", "text": ""})
            out.append(self._event("response.reasoning_summary_part.added", item_id=item["id"], output_index=index,
                                   summary_index=0, part={"type": "summary_text", "text": ""}))  # fmt: skip
        self._summary += text
        item["summary"][0]["text"] = self._summary
        out.append(self._event("response.reasoning_summary_text.delta", item_id=item["id"], output_index=index,
                               summary_index=0, delta=text))  # fmt: skip

    def _answer_text(self, text: str, out: list[Event]) -> None:
        if self._message is None:
            item: dict[str, Any] = {"id": self._new_id("msg"), "type": "message", "status": "in_progress",
                                    "role": "assistant", "content": []}  # fmt: skip
            self._message = self._add(item, out)
            self._starts[self._message] = len(self._text)
            part: dict[str, Any] = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            item["content"].append(part)
            out.append(self._event("response.content_part.added", item_id=item["id"], output_index=self._message,
                                   content_index=0, part=dict(part, annotations=[], logprobs=[])))  # fmt: skip
        msg = self._output[self._message]
        self._text += text
        msg["content"][0]["text"] += text
        out.append(self._event("response.output_text.delta", item_id=msg["id"], output_index=self._message,
                               content_index=0, delta=text, logprobs=[]))  # fmt: skip

    def _close_message(self, out: list[Event], status: str = "completed") -> None:
        index, self._message = self._message, None
        if index is None:
            return
        item = self._output[index]
        part = item["content"][0]
        start = self._starts[index]
        for k, ann in enumerate(url_citations(self._grounding, self._text, start, start + len(part["text"]))):
            part["annotations"].append(ann)
            out.append(self._event("response.output_text.annotation.added", item_id=item["id"], output_index=index,
                                   content_index=0, annotation_index=k, annotation=ann))  # fmt: skip
        out.append(self._event("response.output_text.done", item_id=item["id"], output_index=index,
                               content_index=0, text=part["text"], logprobs=[]))  # fmt: skip
        if not self._quiet:
            out.append(self._event("response.content_part.done", item_id=item["id"], output_index=index,
                                   content_index=0, part=_copy(part)))  # fmt: skip
        item["status"] = status
        self._done(index, out)

    def _function_call(self, fc: object, sig: str | None, out: list[Event]) -> None:
        fc = fc if isinstance(fc, dict) else {}
        gemini_name = str(fc.get("name", ""))
        args = fc.get("args")
        args = args if isinstance(args, dict) else {}
        self._close_message(out)
        call_id = self._new_id("call")
        if sig is not None:
            self._sigs.calls[call_id] = sig
            if self._call.include_encrypted:
                self._open_reasoning(out)
        namespace, name = self._call.names.get(gemini_name, (None, gemini_name))
        item: dict[str, Any] = {"id": self._new_id("fc"), "type": "function_call", "status": "in_progress",
                                "call_id": call_id, "name": name, "arguments": ""}  # fmt: skip
        if namespace is not None:
            item["namespace"] = namespace
        index = self._add(item, out)
        arguments = orjson.dumps(args).decode()
        out.append(self._event("response.function_call_arguments.delta", item_id=item["id"], output_index=index,
                               delta=arguments))  # fmt: skip
        item["arguments"] = arguments
        out.append(self._event("response.function_call_arguments.done", item_id=item["id"], output_index=index,
                               name=name, arguments=arguments))  # fmt: skip
        item["status"] = "completed"
        self._done(index, out)
        self._calls += 1
        part: Part = {"functionCall": {"name": gemini_name, "args": args}}
        if sig is not None:
            part["thoughtSignature"] = sig
        self._turn.append(part)
        self._new_calls[call_id] = gemini_name

    # -- the end ------------------------------------------------------------------------------

    def _refusal(self, text: str, out: list[Event]) -> None:
        item: dict[str, Any] = {"id": self._new_id("msg"), "type": "message", "status": "in_progress",
                                "role": "assistant", "content": []}  # fmt: skip
        index = self._add(item, out)
        common = {"item_id": item["id"], "output_index": index, "content_index": 0}
        out.append(self._event("response.content_part.added", **common, part={"type": "refusal", "refusal": ""}))
        out.append(self._event("response.refusal.delta", **common, delta=text))
        out.append(self._event("response.refusal.done", **common, refusal=text))
        item["content"].append({"type": "refusal", "refusal": text})
        out.append(self._event("response.content_part.done", **common, part={"type": "refusal", "refusal": text}))
        item["status"] = "incomplete"
        self._done(index, out)

    def finish(self, *, completed_at: int) -> list[Event]:
        """Close open items, then ``response.completed`` / ``response.incomplete``. Idempotent."""
        out = self.start()
        if self._ended:
            return out
        self._ended = True
        reason = "content_filter" if self._blocked else finish_reason(self._reason, has_calls=False, legacy=False)
        incomplete = {"length": "max_output_tokens", "content_filter": "content_filter"}.get(reason)
        for index in sorted(self._open):
            if index == self._reasoning:
                self._close_reasoning(out)
            elif index == self._message:
                self._close_message(out, "incomplete" if incomplete else "completed")
        if self._call.web_search:
            self._searches(out)
        if self._blocked is not None:
            self._refusal(self._blocked, out)
        elif incomplete == "content_filter" and not self._text:
            self._refusal(filter_refusal({"finishReason": self._reason, "finishMessage": self._finish_message}), out)
        status = "incomplete" if incomplete else "completed"
        body = self._snapshot(status, incomplete_reason=incomplete, completed_at=completed_at)
        self._result = self._make_result(body)
        out.append(self._event(f"response.{status}", response=body))
        return out

    def _searches(self, out: list[Event]) -> None:
        """A completed ``web_search_call`` per query Google searched (its grounding comes with the
        last chunk, so these follow the message, in a stream and in a unary answer alike)."""
        grounding = self._grounding if isinstance(self._grounding, dict) else {}
        queries = [q for q in grounding.get("webSearchQueries") or () if isinstance(q, str)]
        sources: list[dict[str, Any]] = []
        if self._call.include_sources:
            chunks = grounding.get("groundingChunks")
            for chunk in chunks if isinstance(chunks, list) else ():
                web = chunk.get("web") if isinstance(chunk, dict) else None
                if isinstance(web, dict) and isinstance(web.get("uri"), str):
                    sources.append({"type": "url", "url": web["uri"]})
        for k, query in enumerate(queries):
            action: dict[str, Any] = {"type": "search", "query": query, "queries": [query]}
            if self._call.include_sources:
                action["sources"] = sources if k == 0 else []
            item: dict[str, Any] = {"id": self._new_id("ws"), "type": "web_search_call", "status": "in_progress",
                                    "action": action}  # fmt: skip
            index = self._add(item, out)
            if not self._quiet:
                for stage in ("in_progress", "searching", "completed"):
                    out.append(self._event(f"response.web_search_call.{stage}", output_index=index, item_id=item["id"]))
            item["status"] = "completed"
            self._done(index, out)

    def _close_reasoning(self, out: list[Event]) -> None:
        index = self._reasoning
        assert index is not None
        item = self._output[index]
        if item["summary"]:
            common = {"item_id": item["id"], "output_index": index, "summary_index": 0}
            out.append(self._event("response.reasoning_summary_text.done", **common, text=self._summary))
            out.append(self._event("response.reasoning_summary_part.done", **common,
                                   part={"type": "summary_text", "text": self._summary}))  # fmt: skip
        if self._call.include_encrypted:
            item["encrypted_content"] = encode(self._sigs) if self._sigs else None
        self._done(index, out)

    def fail(self, exc: ProxyError) -> list[Event]:
        """The stream broke: ``response.failed`` (after ``created`` if it had not gone out)."""
        out = self.start()
        if self._ended:
            return out
        self._ended = True
        body = self._snapshot("failed", error=failure(exc))
        self._result = self._make_result(body)
        out.append(self._event("response.failed", response=body))
        return out

    def error_event(self, exc: ProxyError) -> Event:
        """An ``error`` event, for a failure the route reports without a response object."""
        event = error_event(exc, self._seq)
        self._seq += 1
        return event

    def _make_result(self, body: dict[str, Any]) -> ResponsesResult:
        conv = self._call.conversation
        contents = list(conv["contents"])
        if self._sigs.text is not None:  # back on the turn's last text part, as items.py does from encrypted_content
            for part in reversed(self._turn):
                if "text" in part:
                    part["thoughtSignature"] = self._sigs.text
                    break
        if self._turn:
            contents.append({"role": "model", "parts": self._turn})
        return ResponsesResult(body, {"contents": contents, "system": conv["system"],
                                      "calls": {**conv["calls"], **self._new_calls}})  # fmt: skip

    @property
    def result(self) -> ResponsesResult:
        """The final response and the conversation through it; only after ``finish``/``fail``."""
        if self._result is None:
            raise RuntimeError("the response is not finished")
        return self._result


def _copy(item: dict[str, Any]) -> dict[str, Any]:
    """A snapshot for an event: later deltas change the accumulated item, not what was sent."""
    out: dict[str, Any] = orjson.loads(orjson.dumps(item))
    return out

"""``MessageStreamTranslator``: Gemini chunks -> Anthropic stream events ``(event name, data)``. No I/O.

The route calls ``start()`` (optional: ``message_start`` before Gemini answers; its
``input_tokens`` is then 0, the exact count comes in ``message_delta``), ``feed(chunk)`` for each
parsed Gemini chunk, and ``finish()`` at the end; ``encode_event`` makes the wire bytes, and
``PING`` is written while Gemini is silent. A failure after the first byte is written as
``error_event(exc)``. The unary answer (``response.to_message``) runs the same machine, so the
two agree block for block.

* Text and thought summaries go out as they arrive (``text_delta`` / ``thinking_delta``), one
  block per run of parts of one kind; empty text parts send nothing.
* Function calls arrive whole: ``content_block_start`` (``tool_use``, ``input: {}``), one
  ``input_json_delta`` with the whole arguments, ``content_block_stop``.
* Thought signatures ride on ``thinking`` blocks (``signature_delta``): a call's signature on the
  thinking block right before its ``tool_use`` (the open thought block, or a new empty one); a
  text part's signature on the open thought block or an empty one before the text when the part
  starts a text block, else on an empty one right after the text, written only once another part
  follows: a signature after the message's last text is dropped (Gemini checks only calls'
  signatures, and Claude Code takes a message's last block as its answer: a message must not end
  with a thinking block). ``content.py`` reads them back by the same positions. ``signatures``
  maps each tool_use id to its call's signature.
* ``executableCode`` / ``codeExecutionResult`` -> ``server_tool_use`` (``code_execution``) and
  ``code_execution_tool_result``; grounding (``googleSearch``) -> ``server_tool_use``
  (``web_search``, one per query) and ``web_search_tool_result`` (the sources, on the first);
  URL context -> ``server_tool_use`` (``web_fetch``) and ``web_fetch_tool_result``. In a stream
  these come at the end (Gemini sends grounding with the last chunk); in a unary answer first.
  With ``web_search``, the last text block gets a ``citations_delta`` (``web_search_result_location``)
  per source and stretch Google's ``groundingSupports`` name, before it closes.
* Only the first candidate is read (the request never asks for more). Images Gemini returns are
  dropped: Anthropic has no image output block.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from gemini_proxy.errors import ProxyError

from ..candidates import block_refusal, filter_refusal, parts_of
from ..grounding import citations
from .errors import error_to_anthropic
from .outcome import refusal_details, stop_reason, to_usage
from .types import MessagesCall

Event = tuple[str, dict[str, Any]]
PING = b'event: ping\ndata: {"type":"ping"}\n\n'
CITED_TEXT_MAX = 150  # Anthropic's cited_text is at most 150 characters


def encode_event(event: Event) -> bytes:
    """``event: <name>\\ndata: <json>\\n\\n``."""
    return b"event: " + event[0].encode() + b"\ndata: " + orjson.dumps(event[1]) + b"\n\n"


def error_event(exc: ProxyError) -> Event:
    return "error", error_to_anthropic(exc)[1]


class MessageStreamTranslator:
    def __init__(self, call: MessagesCall, *, message_id: str, new_id: Callable[[str], str],
                 grounding_first: bool = False) -> None:  # fmt: skip
        """``new_id(prefix)`` makes block ids (prefix ``toolu_`` or ``srvtoolu_``)."""
        self._call = call
        self._id = message_id
        self._new_id = new_id
        self._grounding_first = grounding_first
        self._started = False
        self._finished = False
        self._index = -1
        self._open: str | None = None  # "text" | "thinking": the block still receiving deltas
        self._last: str | None = None  # kind of the last block: text, thinking, signed, tool_use, server
        self._tools = 0
        self._code_id: str | None = None
        self._reason: object = None
        self._refusal: str | None = None
        self._usage: object = None
        self._grounding: object = None
        self._url_context: object = None
        self._searches = 0
        self._fetches = 0
        self._trailing: str | None = None  # a text part's signature after its text, not written yet
        self._cite = "web_search" in call.server_tools  # grounding supports become the text's citations
        self._text = ""  # all answer text so far (grounding's offsets count over it), when citing
        self._text_block_at = 0  # where the open text block's text starts in _text
        self._cite_from: object = None  # the grounding to cite from (kept after _server_results)
        self.signatures: dict[str, str] = {}

    # -- events ---------------------------------------------------------------------------------

    def _start_block(self, block: dict[str, Any]) -> Event:
        self._index += 1
        return "content_block_start", {"type": "content_block_start", "index": self._index, "content_block": block}

    def _delta(self, delta: dict[str, Any]) -> Event:
        return "content_block_delta", {"type": "content_block_delta", "index": self._index, "delta": delta}

    def _stop_block(self, kind: str) -> Event:
        self._open = None
        self._last = kind
        return "content_block_stop", {"type": "content_block_stop", "index": self._index}

    def _close(self, out: list[Event]) -> None:
        if self._open is not None:
            out.append(self._stop_block(self._open))

    def _sign(self, out: list[Event], sig: str) -> None:
        """The signature on the open unsigned thought block, or on a new empty one."""
        if self._open != "thinking":
            self._close(out)
            out.append(self._start_block({"type": "thinking", "thinking": "", "signature": ""}))
        out.append(self._delta({"type": "signature_delta", "signature": sig}))
        out.append(self._stop_block("signed"))

    def _whole(self, out: list[Event], block: dict[str, Any], kind: str, args: object = None) -> None:
        self._close(out)
        out.append(self._start_block(block))
        if args is not None:
            out.append(self._delta({"type": "input_json_delta", "partial_json": orjson.dumps(args).decode()}))
        out.append(self._stop_block(kind))

    def start(self) -> list[Event]:
        if self._started:
            return []
        self._started = True
        message: dict[str, Any] = {
            "id": self._id, "type": "message", "role": "assistant", "model": self._call.requested_model,
            "content": [], "stop_reason": None, "stop_sequence": None, "usage": to_usage(self._usage),
        }  # fmt: skip
        return [("message_start", {"type": "message_start", "message": message})]

    # -- chunks ---------------------------------------------------------------------------------

    def feed(self, chunk: object) -> list[Event]:
        """One parsed Gemini chunk -> zero or more events."""
        if not isinstance(chunk, dict) or self._finished:
            return []
        if "usageMetadata" in chunk:
            self._usage = chunk["usageMetadata"]
        out = self.start()
        candidates = chunk.get("candidates")
        cand = candidates[0] if isinstance(candidates, list) and candidates else None
        if not isinstance(cand, dict):
            refusal = block_refusal(chunk)
            if refusal is not None:
                self._refusal = refusal
            return out
        if cand.get("finishReason"):
            self._reason = cand["finishReason"]
            if stop_reason(self._reason, has_tool_use=False) == "refusal":
                self._refusal = filter_refusal(cand)
        if isinstance(cand.get("groundingMetadata"), dict):
            self._grounding = self._cite_from = cand["groundingMetadata"]
        if isinstance(cand.get("urlContextMetadata"), dict):
            self._url_context = cand["urlContextMetadata"]
        if self._grounding_first:
            self._server_results(out)
        for part in parts_of(cand):
            if isinstance(part, dict):
                if self._trailing is not None:  # another part follows: the signature goes between them
                    self._sign(out, self._trailing)
                    self._trailing = None
                self._part(part, out)
        return out

    def _part(self, part: dict[str, Any], out: list[Event]) -> None:
        sig = part.get("thoughtSignature")
        sig = sig if isinstance(sig, str) and sig else None
        if "functionCall" in part:
            self._function_call(part["functionCall"], sig, out)
            return
        if "executableCode" in part or "codeExecutionResult" in part:
            self._code(part, out)
            return
        text = part.get("text")
        if not isinstance(text, str):
            return  # inlineData and other output parts have no Anthropic block
        if part.get("thought") is True:
            if text and self._call.include_thoughts:
                if self._open != "thinking":
                    self._close(out)
                    out.append(self._start_block({"type": "thinking", "thinking": "", "signature": ""}))
                    self._open = "thinking"
                out.append(self._delta({"type": "thinking_delta", "thinking": text}))
            if sig:
                self._sign(out, sig)
            return
        if sig and self._open != "text":  # this part starts a text block: its signature goes first
            self._sign(out, sig)
            sig = None
        if text:
            if self._open != "text":
                self._close(out)
                out.append(self._start_block({"type": "text", "text": ""}))
                self._open = "text"
                self._text_block_at = len(self._text)
            out.append(self._delta({"type": "text_delta", "text": text}))
            if self._cite:
                self._text += text
        if sig:
            self._trailing = sig

    def _function_call(self, fc: object, sig: str | None, out: list[Event]) -> None:
        if not self._call.parallel_tool_use and self._tools:
            return  # disable_parallel_tool_use: only the first call is passed on
        fc = fc if isinstance(fc, dict) else {}
        if sig:
            self._sign(out, sig)
        elif self._last == "signed" and self._open is None:
            # An unsigned call right after a signature that is not its own: an empty, unsigned
            # block between them keeps content.py from giving that signature to this call.
            self._whole(out, {"type": "thinking", "thinking": "", "signature": ""}, "thinking")
        tool_id = self._new_id("toolu_")
        if sig:
            self.signatures[tool_id] = sig
        args = fc.get("args")
        block = {"type": "tool_use", "id": tool_id, "name": str(fc.get("name", "")), "input": {}}
        self._whole(out, block, "tool_use", args if isinstance(args, dict) else {})
        self._tools += 1

    def _code(self, part: dict[str, Any], out: list[Event]) -> None:
        if "executableCode" in part:
            code: object = part["executableCode"].get("code") if isinstance(part["executableCode"], dict) else None
            self._code_id = self._new_id("srvtoolu_")
            block = {"type": "server_tool_use", "id": self._code_id, "name": "code_execution", "input": {}}
            self._whole(out, block, "server", {"code": code if isinstance(code, str) else ""})
            return
        result = part["codeExecutionResult"]
        result = result if isinstance(result, dict) else {}
        output = result.get("output") if isinstance(result.get("output"), str) else ""
        ok = result.get("outcome") in (None, "OUTCOME_OK")
        if self._code_id is None:
            self._code_id = self._new_id("srvtoolu_")
        content: dict[str, Any] = {
            "type": "code_execution_result", "stdout": output if ok else "", "stderr": "" if ok else output,
            "return_code": 0 if ok else 1, "content": [],
        }  # fmt: skip
        self._whole(out, {"type": "code_execution_tool_result", "tool_use_id": self._code_id, "content": content},
                    "server")  # fmt: skip
        self._code_id = None

    def _server_results(self, out: list[Event]) -> None:
        grounding, self._grounding = self._grounding, None
        if isinstance(grounding, dict) and "web_search" in self._call.server_tools:
            queries = [q for q in grounding.get("webSearchQueries") or [] if isinstance(q, str)]
            chunks = grounding.get("groundingChunks")
            sources = []
            for c in chunks if isinstance(chunks, list) else []:
                web = c.get("web") if isinstance(c, dict) else None
                if isinstance(web, dict) and isinstance(web.get("uri"), str):
                    title = str(web.get("title") or "")
                    sources.append({"type": "web_search_result", "url": web["uri"], "title": title,
                                    "encrypted_content": "", "page_age": None})  # fmt: skip
            content: list[dict[str, Any]]
            for k, query in enumerate(queries or ([""] if sources else [])):
                srv = self._new_id("srvtoolu_")
                self._whole(out, {"type": "server_tool_use", "id": srv, "name": "web_search", "input": {}}, "server",
                            {"query": query})  # fmt: skip
                content = sources if k == 0 else []
                result = {"type": "web_search_tool_result", "tool_use_id": srv, "content": content}
                self._whole(out, result, "server")
                self._searches += 1
        context, self._url_context = self._url_context, None
        urls = context.get("urlMetadata") if isinstance(context, dict) else None
        if isinstance(urls, list) and "web_fetch" in self._call.server_tools:
            for meta in urls:
                url = meta.get("retrievedUrl") if isinstance(meta, dict) else None
                if not isinstance(url, str):
                    continue
                srv = self._new_id("srvtoolu_")
                self._whole(out, {"type": "server_tool_use", "id": srv, "name": "web_fetch", "input": {}}, "server",
                            {"url": url})  # fmt: skip
                if meta.get("urlRetrievalStatus") in (None, "URL_RETRIEVAL_STATUS_SUCCESS"):
                    doc = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": ""}}
                    fetched: dict[str, Any] = {"type": "web_fetch_result", "url": url, "content": doc}
                else:
                    fetched = {"type": "web_fetch_tool_result_error", "error_code": "url_not_accessible"}
                self._whole(out, {"type": "web_fetch_tool_result", "tool_use_id": srv, "content": fetched}, "server")
                self._fetches += 1

    def _citations(self, out: list[Event]) -> None:
        """``citations_delta`` events on the open text block for the sources Google grounded it on
        (Gemini sends grounding with the last chunk: the last text block is the one still open)."""
        if not self._cite or self._open != "text":
            return
        for c in citations(self._cite_from, self._text, self._text_block_at):
            cited = self._text[self._text_block_at + c.start : self._text_block_at + c.end]
            citation = {"type": "web_search_result_location", "url": c.url, "title": c.title, "encrypted_index": "",
                        "cited_text": cited[:CITED_TEXT_MAX]}  # fmt: skip
            out.append(self._delta({"type": "citations_delta", "citation": citation}))

    # -- end ------------------------------------------------------------------------------------

    def finish(self) -> list[Event]:
        """Close the open block; ``message_delta`` (stop_reason, final usage) and ``message_stop``. Idempotent."""
        if self._finished:
            return []
        out = self.start()
        self._trailing = None  # see the module's docstring: a message never ends with a thinking block
        self._citations(out)
        self._server_results(out)
        self._close(out)
        self._finished = True
        reason = "refusal" if self._refusal is not None else stop_reason(self._reason, has_tool_use=self._tools > 0)
        delta: dict[str, Any] = {"stop_reason": reason, "stop_sequence": None}
        if self._refusal is not None:
            delta["stop_details"] = refusal_details(self._refusal)
        usage = to_usage(self._usage, searches=self._searches, fetches=self._fetches,
                         server=bool(self._call.server_tools & {"web_search", "web_fetch"}))  # fmt: skip
        out.append(("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
        out.append(("message_stop", {"type": "message_stop"}))
        return out

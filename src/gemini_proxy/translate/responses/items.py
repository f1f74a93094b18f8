"""Responses ``input`` (a string or items) -> Gemini ``contents`` + system parts.

* A string is one user turn. Items: ``message`` (``type`` may be left out) with role ``user``
  -> a user turn (``input_text``, ``input_image`` by data URL or fetched http(s) URL,
  ``input_file`` by ``file_data`` or fetched ``file_url``), ``assistant`` -> a model turn
  (``output_text``, ``refusal``), ``system``/``developer`` -> ``systemInstruction`` parts in order.
  ``file_id`` is a 400 (there is no Files API here). Item ids and ``status`` are accepted and
  not used. Consecutive turns of one role merge (Gemini rejects two in a row).
* ``function_call`` -> a ``functionCall`` part of the model turn (``namespace`` + ``name``
  flattened as declared, ``arguments`` parsed); ``function_call_output`` -> a ``functionResponse``
  named after the call with the same ``call_id`` (in this input or the stored conversation; none
  is a 400), ``response = {"output": <text>}``, images/files of an array output as parts after it.
  Results that follow each other form one user turn, ordered like the calls.
* ``reasoning`` items: their summaries are not sent (Gemini takes no thought text as input);
  ``encrypted_content`` returns the turn's thought signatures (``signatures.py``). On Gemini 3 a
  model turn whose first call still has none gets the documented bypass value.
* ``web_search_call`` items are accepted and skipped; any other item type is a 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gemini_proxy.errors import InvalidRequest, shown

from ..gemini_types import Content, Part
from ..media import file_part, image_part, is_http_url
from ..messages import add_bypass_signatures
from ..models import is_gemini3
from . import signatures
from .call import Conversation
from .tools import flat_name

_SKIPPED = ("web_search_call",)  # a tuple: a client may send an unhashable type


class _Builder:
    __slots__ = ("contents", "system", "calls", "order", "pending", "call_sigs", "text_sig", "fetched")

    def __init__(self, previous: Conversation | None, fetched: Mapping[str, tuple[str, str]]) -> None:
        prev = previous or {"contents": [], "system": [], "calls": {}}
        # Copies: the stored conversation is not changed by building on it.
        self.contents: list[Content] = [{"role": c["role"], "parts": [Part(**p) for p in c["parts"]]}
                                        for c in prev["contents"]]  # fmt: skip
        self.system: list[Part] = list(prev["system"])
        self.calls: dict[str, str] = dict(prev["calls"])
        self.order: dict[str, int] = {}
        self.pending: list[tuple[tuple[int, int], list[Part]]] = []
        self.call_sigs: dict[str, str] = {}
        self.text_sig: str | None = None
        self.fetched = fetched

    def append(self, role: Any, parts: list[Part]) -> None:
        if self.pending:  # tool results waiting: they are the user turn before anything else
            self.pending.sort(key=lambda item: item[0])
            results = [p for _, ps in self.pending for p in ps]
            self.pending = []
            self._close_turn()
            self._add("user", results)
        if role == "user":
            self._close_turn()
        if parts:
            self._add(role, parts)

    def flush(self) -> None:
        self.append("user", [])

    def _add(self, role: Any, parts: list[Part]) -> None:
        if self.contents and self.contents[-1]["role"] == role:
            self.contents[-1]["parts"].extend(parts)
        else:
            self.contents.append({"role": role, "parts": parts})

    def _close_turn(self) -> None:
        """The text signature of the model turn being closed goes on its last text part."""
        sig, self.text_sig = self.text_sig, None
        if sig is None or not self.contents or self.contents[-1]["role"] != "model":
            return
        for part in reversed(self.contents[-1]["parts"]):
            if "text" in part:
                part.setdefault("thoughtSignature", sig)
                return


def to_contents(
    input_: object,
    *,
    model: str,
    previous: Conversation | None,
    fetched_media: Mapping[str, tuple[str, str]],
) -> Conversation:
    """The conversation to send: ``previous`` (a stored one, or None) plus this input."""
    b = _Builder(previous, fetched_media)
    if isinstance(input_, str):
        if input_:
            b.append("user", [{"text": input_}])
    elif isinstance(input_, list):
        _collect_signatures(input_, b)
        for i, item in enumerate(input_):
            _item(item, f"input[{i}]", i, b)
    else:
        raise InvalidRequest("input must be a string or an array of input items", param="input")
    b.flush()
    if is_gemini3(model):
        add_bypass_signatures(b.contents)
    return {"contents": b.contents, "system": b.system, "calls": b.calls}


def _collect_signatures(items: list[Any], b: _Builder) -> None:
    """First pass: call signatures from every reasoning item, whatever its position."""
    for i, item in enumerate(items):
        if isinstance(item, dict) and item.get("type") == "reasoning":
            sigs = signatures.decode(item.get("encrypted_content"), f"input[{i}].encrypted_content")
            if sigs is not None:
                b.call_sigs.update(sigs.calls)


def _item(item: object, param: str, i: int, b: _Builder) -> None:
    if not isinstance(item, dict):
        raise InvalidRequest("each input item must be an object", param=param)
    kind = item.get("type")
    if kind == "message" or (kind is None and "role" in item):
        _message(item, param, b)
    elif kind == "function_call":
        _call(item, param, b)
    elif kind == "function_call_output":
        _output(item, param, i, b)
    elif kind == "reasoning":
        sigs = signatures.decode(item.get("encrypted_content"), param + ".encrypted_content")
        if sigs is not None and sigs.text is not None:
            b.text_sig = sigs.text
    elif kind in _SKIPPED:
        return
    elif kind == "item_reference":
        raise InvalidRequest("item_reference is not supported: send the item itself", param=param + ".type")
    else:
        raise InvalidRequest(f"input item type {shown(kind)} is not supported", param=param + ".type")


def _message(item: dict[str, Any], param: str, b: _Builder) -> None:
    role = item.get("role")
    content = item.get("content")
    if role == "user":
        b.append("user", content_parts(content, param + ".content", b.fetched, ("input_text",)))
    elif role == "assistant":
        kinds = ("output_text", "input_text", "refusal")
        b.append("model", content_parts(content, param + ".content", b.fetched, kinds))
    elif role in ("system", "developer"):
        b.system.extend(content_parts(content, param + ".content", b.fetched, ("input_text",), media=False))
    else:
        raise InvalidRequest(f"unknown role {shown(role)}", param=param + ".role")


def content_parts(
    content: object,
    param: str,
    fetched: Mapping[str, tuple[str, str]],
    text_kinds: tuple[str, ...],
    *,
    media: bool = True,
) -> list[Part]:
    """Message content (a string or content parts) -> Gemini parts; empty text is dropped."""
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise InvalidRequest("content must be a string or an array of content parts", param=param)
    parts: list[Part] = []
    for j, part in enumerate(content):
        pparam = f"{param}[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if not isinstance(part, dict):
            raise InvalidRequest("content part must be an object", param=pparam)
        if kind in text_kinds:
            key = "refusal" if kind == "refusal" else "text"
            text = part.get(key)
            if not isinstance(text, str):
                raise InvalidRequest(f"{key} must be a string", param=f"{pparam}.{key}")
            if text:
                parts.append({"text": text})
        elif media and kind == "input_image":
            if part.get("image_url") is None and part.get("file_id") is not None:
                raise InvalidRequest("file_id is not supported; send image_url", param=pparam + ".file_id")
            parts.append(image_part(part, fetched, pparam + ".image_url"))
        elif media and kind == "input_file":
            parts.append(_file(part, pparam, fetched))
        else:
            raise InvalidRequest(f"unsupported content part type {shown(kind)} here", param=pparam + ".type")
    return parts


def _file(part: dict[str, Any], param: str, fetched: Mapping[str, tuple[str, str]]) -> Part:
    url = part.get("file_url")
    if part.get("file_data") is None and isinstance(url, str) and url:
        got = fetched.get(url) if is_http_url(url) else None
        if got is None:
            raise InvalidRequest("file_url must be an http(s) URL fetched before translation",
                                 param=param + ".file_url")  # fmt: skip
        return {"inlineData": {"mimeType": got[0], "data": got[1]}}
    if part.get("file_data") is None and part.get("file_id") is not None:
        raise InvalidRequest("file_id is not supported; send file_data", param=param + ".file_id")
    return file_part({"file": {"file_data": part.get("file_data"), "filename": part.get("filename")}}, param)


def _call(item: dict[str, Any], param: str, b: _Builder) -> None:
    call_id, name, namespace = item.get("call_id"), item.get("name"), item.get("namespace")
    if not isinstance(call_id, str) or not call_id:
        raise InvalidRequest("call_id must be a non-empty string", param=param + ".call_id")
    if not isinstance(name, str) or not name:
        raise InvalidRequest("name must be a non-empty string", param=param + ".name")
    if namespace is not None and not isinstance(namespace, str):
        raise InvalidRequest("namespace must be a string", param=param + ".namespace")
    flat = flat_name(namespace, name)
    part: Part = {"functionCall": {"name": flat, "args": _arguments(item.get("arguments"), param + ".arguments")}}
    sig = b.call_sigs.get(call_id)
    if sig:
        part["thoughtSignature"] = sig
    b.calls[call_id] = flat
    b.order[call_id] = len(b.order)
    b.append("model", [part])


def _arguments(raw: object, param: str) -> dict[str, Any]:
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, str):
        raise InvalidRequest("arguments must be a JSON string", param=param)
    try:
        args = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest("arguments is not valid JSON", param=param) from None
    if not isinstance(args, dict):
        raise InvalidRequest("arguments must encode a JSON object", param=param)
    return args


def _output(item: dict[str, Any], param: str, i: int, b: _Builder) -> None:
    call_id = item.get("call_id")
    name = b.calls.get(call_id) if isinstance(call_id, str) else None
    if name is None:
        raise InvalidRequest(
            f"function_call_output does not answer any function call of the conversation (call_id={shown(call_id)})",
            param=param + ".call_id",
        )
    output = item.get("output")
    media: list[Part] = []
    if isinstance(output, str):
        text = output
    elif isinstance(output, list):
        texts = []
        for part in content_parts(output, param + ".output", b.fetched, ("input_text", "output_text")):
            if "text" in part:
                texts.append(part["text"])
            else:
                media.append(part)
        text = "".join(texts)
    else:
        raise InvalidRequest("output must be a string or an array of content parts", param=param + ".output")
    response: Part = {"functionResponse": {"name": name, "response": {"output": text}}}
    order = b.order.get(call_id, -1) if isinstance(call_id, str) else -1
    b.pending.append(((order, i), [response, *media]))

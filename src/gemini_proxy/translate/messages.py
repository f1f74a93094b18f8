"""OpenAI ``messages`` -> Gemini ``contents`` + ``systemInstruction``.

Decisions (quoted by the docs):

* ``system`` and ``developer`` messages, wherever they appear, become ``systemInstruction``
  parts in order. A conversation with *only* system messages sends them as the user turn
  (Gemini requires ``contents``).
* ``user`` -> role ``user``, ``assistant`` -> role ``model``; consecutive turns of the same role
  are merged (Gemini rejects two turns of one role in a row). ``name`` fields are ignored.
  Empty text parts are dropped; a message left without parts is skipped.
* Tool results (``tool`` and legacy ``function`` messages) that follow each other become ONE
  user turn of ``functionResponse`` parts, ordered like the calls they answer, with
  ``response = {"output": <content as text>}`` -- always the text, never a parsed object, so a
  result that happens to look like ``{"error": ...}`` is not reinterpreted by Gemini. Non-text
  parts of a tool message (images) follow the responses as ``inlineData`` parts.
* Thought signatures on history function calls: ``tool_calls[i].extra_content.google.
  thought_signature``, else ``signatures[call_id]`` (the route's store). On Gemini 3 models the
  first ``functionCall`` part of a model turn that still has none gets the documented bypass
  value ``skip_thought_signature_validator`` (raw string, as in Google's REST examples); later
  calls of a parallel turn are left without, as Gemini itself returns them. An assistant
  message's own ``extra_content.google.thought_signature`` (a text-part signature we returned)
  goes back on its last text part.
* ``reasoning_content`` of assistant history is not sent back (Gemini does not accept thought
  text as input; the signatures carry the reasoning state).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gemini_proxy.errors import InvalidRequest, shown

from .gemini_types import Content, Part
from .media import audio_part, file_part, image_part
from .models import is_gemini3

SKIP_SIGNATURE = "skip_thought_signature_validator"


def google_signature(obj: Mapping[str, Any]) -> str | None:
    """``obj.extra_content.google.thought_signature`` if it is a non-empty string."""
    extra = obj.get("extra_content")
    google = extra.get("google") if isinstance(extra, dict) else None
    sig = google.get("thought_signature") if isinstance(google, dict) else None
    return sig if isinstance(sig, str) and sig else None


def missing_signature_call_ids(body: object) -> list[str]:
    """Ids of assistant ``tool_calls`` in the history that carry no thought signature.

    The route looks these up in its signature store and passes what it finds as
    ``signatures`` to ``to_gemini_request``. Never raises on a malformed body.
    """
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list):
        return []
    out: list[str] = []
    for message in messages:
        if not isinstance(message, dict) or message.get("role") != "assistant":
            continue
        calls = message.get("tool_calls")
        if not isinstance(calls, list):
            continue
        for call in calls:
            if isinstance(call, dict) and isinstance(call.get("id"), str) and google_signature(call) is None:
                out.append(call["id"])
    return out


class _Builder:
    __slots__ = ("contents", "system", "pending", "calls", "signatures", "fetched")

    def __init__(self, signatures: Mapping[str, str], fetched: Mapping[str, tuple[str, str]]) -> None:
        self.contents: list[Content] = []
        self.system: list[Part] = []
        # Tool results waiting to become one user turn: (order key, parts).
        self.pending: list[tuple[tuple[int, int], list[Part]]] = []
        self.calls: dict[str, tuple[str, int]] = {}  # tool_call id -> (function name, call order)
        self.signatures = signatures
        self.fetched = fetched

    def append(self, role: Any, parts: list[Part]) -> None:
        if self.pending:
            self.pending.sort(key=lambda item: item[0])
            pending = [p for _, ps in self.pending for p in ps]
            self.pending = []
            self.append("user", pending)
        if not parts:
            return
        if self.contents and self.contents[-1]["role"] == role:
            self.contents[-1]["parts"].extend(parts)
        else:
            self.contents.append({"role": role, "parts": parts})


def to_contents(
    messages: object,
    *,
    model: str,
    signatures: Mapping[str, str],
    fetched_media: Mapping[str, tuple[str, str]],
) -> tuple[list[Content], Content | None]:
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages must be a non-empty array", param="messages")
    b = _Builder(signatures, fetched_media)
    for i, message in enumerate(messages):
        param = f"messages[{i}]"
        if not isinstance(message, dict):
            raise InvalidRequest("each message must be an object", param=param)
        role = message.get("role")
        if role == "user":
            b.append("user", _user_parts(message.get("content"), param, b.fetched))
        elif role == "assistant":
            b.append("model", _assistant_parts(message, param, b))
        elif role in ("system", "developer"):
            b.system.extend(_text_parts(message.get("content"), param, ("text",)))
        elif role == "tool":
            _tool_result(message, param, b, i)
        elif role == "function":
            _function_result(message, param, b, i)
        else:
            raise InvalidRequest(f"unknown role {shown(role)}", param=param + ".role")
    b.append("user", [])  # flush trailing tool results
    if is_gemini3(model):
        add_bypass_signatures(b.contents)
    system: Content | None = {"parts": b.system} if b.system else None
    if not b.contents:
        if system is None:
            raise InvalidRequest("messages must contain at least one non-empty message", param="messages")
        return [{"role": "user", "parts": b.system}], None
    return b.contents, system


def _text_parts(content: object, param: str, allowed: tuple[str, ...]) -> list[Part]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise InvalidRequest("content must be a string or an array of content parts", param=param + ".content")
    parts: list[Part] = []
    for j, part in enumerate(content):
        pparam = f"{param}.content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in allowed or not isinstance(part, dict):
            raise InvalidRequest(f"unsupported content part type {shown(kind)} here", param=pparam + ".type")
        text = part.get(kind)
        if not isinstance(text, str):
            raise InvalidRequest(f"{kind} must be a string", param=f"{pparam}.{kind}")
        if text:
            parts.append({"text": text})
    return parts


def _user_parts(content: object, param: str, fetched: Mapping[str, tuple[str, str]]) -> list[Part]:
    if content is None or isinstance(content, str):
        return _text_parts(content, param, ("text",))
    if not isinstance(content, list):
        raise InvalidRequest("content must be a string or an array of content parts", param=param + ".content")
    parts: list[Part] = []
    for j, part in enumerate(content):
        pparam = f"{param}.content[{j}]"
        if not isinstance(part, dict):
            raise InvalidRequest("content part must be an object", param=pparam)
        kind = part.get("type")
        if kind == "text":
            text = part.get("text")
            if not isinstance(text, str):
                raise InvalidRequest("text must be a string", param=pparam + ".text")
            if text:
                parts.append({"text": text})
        elif kind == "image_url":
            parts.append(image_part(part, fetched, pparam + ".image_url"))
        elif kind == "input_audio":
            parts.append(audio_part(part, pparam + ".input_audio"))
        elif kind == "file":
            parts.append(file_part(part, pparam + ".file"))
        else:
            raise InvalidRequest(f"unsupported content part type {shown(kind)}", param=pparam + ".type")
    return parts


def _parse_arguments(raw: object, param: str) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
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


def _assistant_parts(message: dict[str, Any], param: str, b: _Builder) -> list[Part]:
    parts = _text_parts(message.get("content"), param, ("text", "refusal"))
    text_sig = google_signature(message)
    if text_sig is not None and parts:
        parts[-1]["thoughtSignature"] = text_sig
    calls = message.get("tool_calls")
    if calls is not None:
        if not isinstance(calls, list):
            raise InvalidRequest("tool_calls must be an array", param=param + ".tool_calls")
        for k, call in enumerate(calls):
            cparam = f"{param}.tool_calls[{k}]"
            fn = call.get("function") if isinstance(call, dict) else None
            if not isinstance(call, dict) or not isinstance(fn, dict):
                raise InvalidRequest("tool call must be an object with a function", param=cparam)
            call_id, name = call.get("id"), fn.get("name")
            if not isinstance(call_id, str) or not call_id:
                raise InvalidRequest("tool call id must be a non-empty string", param=cparam + ".id")
            if not isinstance(name, str) or not name:
                raise InvalidRequest("function name must be a non-empty string", param=cparam + ".function.name")
            part: Part = {
                "functionCall": {
                    "name": name,
                    "args": _parse_arguments(fn.get("arguments"), cparam + ".function.arguments"),
                }
            }
            sig = google_signature(call) or b.signatures.get(call_id)
            if sig:
                part["thoughtSignature"] = sig
            b.calls[call_id] = (name, len(b.calls))
            parts.append(part)
    legacy = message.get("function_call")
    if legacy is not None:
        fparam = param + ".function_call"
        name = legacy.get("name") if isinstance(legacy, dict) else None
        if not isinstance(legacy, dict) or not isinstance(name, str) or not name:
            raise InvalidRequest("function_call must be an object with a name", param=fparam)
        parts.append(
            {"functionCall": {"name": name, "args": _parse_arguments(legacy.get("arguments"), fparam + ".arguments")}}
        )
    return parts


def _tool_output(content: object, param: str, b: _Builder) -> tuple[str, list[Part]]:
    """Tool message content -> (text for ``output``, extra media parts)."""
    if content is None:
        return "", []
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        raise InvalidRequest("content must be a string or an array of content parts", param=param + ".content")
    texts: list[str] = []
    media: list[Part] = []
    for part in _user_parts(content, param, b.fetched):
        if "text" in part:
            texts.append(part["text"])
        else:
            media.append(part)
    return "".join(texts), media


def _tool_result(message: dict[str, Any], param: str, b: _Builder, i: int) -> None:
    call_id = message.get("tool_call_id")
    found = b.calls.get(call_id) if isinstance(call_id, str) else None
    if found is None:
        raise InvalidRequest(
            f"tool message does not answer any preceding assistant tool call (tool_call_id={shown(call_id)})",
            param=param + ".tool_call_id",
        )
    name, order = found
    output, media = _tool_output(message.get("content"), param, b)
    part: Part = {"functionResponse": {"name": name, "response": {"output": output}}}
    b.pending.append(((order, i), [part, *media]))


def _function_result(message: dict[str, Any], param: str, b: _Builder, i: int) -> None:
    name = message.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRequest("function message needs the function name", param=param + ".name")
    output, media = _tool_output(message.get("content"), param, b)
    part: Part = {"functionResponse": {"name": name, "response": {"output": output}}}
    b.pending.append(((len(b.calls) + i, i), [part, *media]))


def add_bypass_signatures(contents: list[Content]) -> None:
    """Gemini 3: give the first functionCall part of each model turn the bypass signature if it has none."""
    for content in contents:
        if content["role"] != "model":
            continue
        for part in content["parts"]:
            if "functionCall" in part:
                part.setdefault("thoughtSignature", SKIP_SIGNATURE)
                break

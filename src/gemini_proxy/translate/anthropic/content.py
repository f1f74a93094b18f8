"""Anthropic ``system`` + ``messages`` -> Gemini ``systemInstruction`` + ``contents``.

* ``system`` (a string or text blocks) and ``role: "system"`` messages -> ``systemInstruction``.
* ``user`` -> ``user``, ``assistant`` -> ``model``; consecutive same-role turns are merged; empty
  text is dropped and a message left without parts is skipped.
* ``tool_use`` -> ``functionCall``. ``tool_result`` blocks of a user message -> ``functionResponse``
  parts first, in the order of the calls they answer (``name`` from the call), ``response`` =
  ``{"output": text}`` or ``{"error": text}`` with ``is_error``; their images and documents follow
  each response as parts; ``tool_reference`` blocks load deferred tools (see ``tools.py``).
* ``thinking`` / ``redacted_thinking`` (its ``data`` is the signature) carry Gemini's thought
  signatures (``response.py`` places them). A signed block goes back onto: the call of the
  ``tool_use`` right after it; else (with thinking text) the text right after it; else the text
  right before it; else the text right after it; else its own thought part. The ``tool_use`` of a
  call with no signature in the history takes ``signatures[id]`` (the route's store), and on Gemini
  3 the first call of a model turn that still has none gets the documented bypass value.
* Thinking text goes back as ``thought`` parts for the current turn only (the assistant messages
  after the last user message that is more than tool results): Anthropic drops older thinking
  from the context too. Server-tool blocks (``server_tool_use``, ``*_tool_result``) are not sent
  back: Gemini ran those tools itself and their results are in the answer's text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gemini_proxy.errors import InvalidRequest, shown

from ..gemini_types import Content, Part
from ..media import is_http_url
from ..messages import SKIP_SIGNATURE
from ..models import is_gemini3
from .blocks import Fetched, block_type, media_blocks, simple_parts, text_of

_USER_BLOCKS = ("text", "image", "document", "search_result")
_RESULT_BLOCKS = ("text", "image", "document", "search_result")
_SERVER_BLOCKS = frozenset({
    "server_tool_use", "web_search_tool_result", "web_fetch_tool_result", "code_execution_tool_result",
    "bash_code_execution_tool_result", "text_editor_code_execution_tool_result", "tool_search_tool_result",
})  # fmt: skip
_THINKING = ("thinking", "redacted_thinking")


def _messages(body: object) -> list[Any]:
    messages = body.get("messages") if isinstance(body, dict) else None
    return messages if isinstance(messages, list) else []


def collect_media_urls(body: object) -> list[tuple[str, str]]:
    """``(url, param)`` for each http(s) image/document URL the route must fetch before translation,
    in order of first appearance, without duplicates. Never raises."""
    urls: dict[str, str] = {}
    for i, message in enumerate(_messages(body)):
        content = message.get("content") if isinstance(message, dict) else None
        for block, param in media_blocks(content, f"messages[{i}].content"):
            source = block.get("source")
            url = source.get("url") if isinstance(source, dict) and source.get("type") == "url" else None
            if isinstance(url, str) and is_http_url(url):
                urls.setdefault(url, param + ".source.url")
    return list(urls.items())


def _signed(block: object) -> str | None:
    if not isinstance(block, dict):
        return None
    sig = block.get("signature") if block.get("type") == "thinking" else block.get("data")
    return sig if block.get("type") in _THINKING and isinstance(sig, str) and sig else None


def missing_signature_tool_ids(body: object) -> list[str]:
    """Ids of history ``tool_use`` blocks with no signed thinking block right before them: the route
    looks them up in its signature store and passes what it finds as ``signatures``. Never raises."""
    out: list[str] = []
    for message in _messages(body):
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(message, dict) or message.get("role") != "assistant" or not isinstance(content, list):
            continue
        for k, block in enumerate(content):
            if isinstance(block, dict) and block.get("type") == "tool_use" and isinstance(block.get("id"), str):
                if k == 0 or _signed(content[k - 1]) is None:
                    out.append(block["id"])
    return out


def signatures_of(content: object) -> dict[str, str]:
    """tool_use id -> thought signature in a message's ``content`` (for the route's store)."""
    out: dict[str, str] = {}
    if isinstance(content, list):
        for k, block in enumerate(content):
            if k and isinstance(block, dict) and block.get("type") == "tool_use" and isinstance(block.get("id"), str):
                sig = _signed(content[k - 1])
                if sig is not None:
                    out[block["id"]] = sig
    return out


class Conversation:
    """The translated conversation, plus what ``tools.py`` needs: tools the history has loaded."""

    __slots__ = ("contents", "system", "references", "used_tools", "_calls", "_signatures", "_fetched")

    def __init__(self, signatures: Mapping[str, str], fetched: Fetched) -> None:
        self.contents: list[Content] = []
        self.system: list[Part] = []
        self.references: dict[str, str] = {}  # tool_reference name -> param
        self.used_tools: set[str] = set()
        self._calls: dict[str, tuple[str, int]] = {}  # tool_use id -> (name, call order)
        self._signatures = signatures
        self._fetched = fetched

    def _append(self, role: Any, parts: list[Part]) -> None:
        if not parts:
            return
        if self.contents and self.contents[-1]["role"] == role:
            self.contents[-1]["parts"].extend(parts)
        else:
            self.contents.append({"role": role, "parts": parts})


def system_parts(system: object, param: str) -> list[Part]:
    if system is None:
        return []
    if isinstance(system, str):
        return [{"text": system}] if system else []
    if not isinstance(system, list):
        raise InvalidRequest("system must be a string or an array of text blocks", param=param)
    parts: list[Part] = []
    for k, block in enumerate(system):
        bparam = f"{param}[{k}]"
        if block_type(block, bparam) != "text":
            raise InvalidRequest("system blocks must be text blocks", param=bparam + ".type")
        assert isinstance(block, dict)
        text = text_of(block, bparam)
        if text:
            parts.append({"text": text})
    return parts


def to_contents(
    messages: object, system: object, *, model: str, signatures: Mapping[str, str], fetched_media: Fetched
) -> Conversation:
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages must be a non-empty array", param="messages")
    conv = Conversation(signatures, fetched_media)
    conv.system.extend(system_parts(system, "system"))
    turn_start = _current_turn_start(messages)
    for i, message in enumerate(messages):
        param = f"messages[{i}]"
        if not isinstance(message, dict):
            raise InvalidRequest("each message must be an object", param=param)
        role, content = message.get("role"), message.get("content")
        if role == "system":
            conv.system.extend(system_parts(content, param + ".content"))
            continue
        if role not in ("user", "assistant"):
            raise InvalidRequest(f"role must be 'user' or 'assistant', not {shown(role)}", param=param + ".role")
        if content is None:
            raise InvalidRequest("Field required", param=param + ".content")
        if isinstance(content, str):
            conv._append("user" if role == "user" else "model", [{"text": content}] if content else [])
        elif not isinstance(content, list):
            raise InvalidRequest("content must be a string or an array of content blocks", param=param + ".content")
        elif role == "user":
            conv._append("user", _user_parts(content, param, conv))
        else:
            conv._append("model", _assistant_parts(content, param, conv, current=i > turn_start))
    if is_gemini3(model):
        _add_bypass_signatures(conv.contents)
    if not conv.contents:
        raise InvalidRequest("messages must contain at least one non-empty message", param="messages")
    return conv


def _current_turn_start(messages: list[Any]) -> int:
    """Index of the last user message that is more than tool results (-1 if none)."""
    for i in range(len(messages) - 1, -1, -1):
        m = messages[i]
        if not isinstance(m, dict) or m.get("role") != "user":
            continue
        content = m.get("content")
        if not isinstance(content, list) or any(
            not isinstance(b, dict) or b.get("type") != "tool_result" for b in content
        ):
            return i
    return -1


def _user_parts(content: list[Any], param: str, conv: Conversation) -> list[Part]:
    responses: list[tuple[tuple[int, int], list[Part]]] = []
    others: list[Part] = []
    for j, block in enumerate(content):
        bparam = f"{param}.content[{j}]"
        kind = block_type(block, bparam)
        if kind == "tool_result":
            responses.append(((_result_order(block, bparam, conv), j), _tool_result(block, bparam, conv)))
        elif kind == "tool_reference":
            raise InvalidRequest("tool_reference blocks belong inside a tool_result", param=bparam + ".type")
        else:
            others.extend(simple_parts(block, bparam, conv._fetched, _USER_BLOCKS))
    responses.sort(key=lambda item: item[0])
    return [p for _, ps in responses for p in ps] + others


def _result_order(block: dict[str, Any], param: str, conv: Conversation) -> int:
    call_id = block.get("tool_use_id")
    found = conv._calls.get(call_id) if isinstance(call_id, str) else None
    if found is None:
        raise InvalidRequest(f"tool_result does not answer any preceding tool_use (tool_use_id={shown(call_id)})",
                             param=param + ".tool_use_id")  # fmt: skip
    return found[1]


def _tool_result(block: dict[str, Any], param: str, conv: Conversation) -> list[Part]:
    name = conv._calls[block["tool_use_id"]][0]
    content = block.get("content")
    texts: list[str] = []
    media: list[Part] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for k, inner in enumerate(content):
            kparam = f"{param}.content[{k}]"
            if block_type(inner, kparam) == "tool_reference":
                assert isinstance(inner, dict)
                tool = inner.get("tool_name")
                if not isinstance(tool, str) or not tool:
                    raise InvalidRequest("tool_name must be a non-empty string", param=kparam + ".tool_name")
                conv.references.setdefault(tool, kparam + ".tool_name")
                texts.append(f"Tool {tool} is now available.")
                continue
            for part in simple_parts(inner, kparam, conv._fetched, _RESULT_BLOCKS):
                if "text" in part:
                    texts.append(part["text"])
                else:
                    media.append(part)
    elif content is not None:
        raise InvalidRequest("tool_result content must be a string or an array of blocks", param=param + ".content")
    is_error = block.get("is_error")
    if is_error is not None and not isinstance(is_error, bool):
        raise InvalidRequest("is_error must be a boolean", param=param + ".is_error")
    key = "error" if is_error else "output"
    return [{"functionResponse": {"name": name, "response": {key: "\n".join(texts)}}}, *media]


def _assistant_parts(content: list[Any], param: str, conv: Conversation, *, current: bool) -> list[Part]:
    # First pass: (kind, block, param) items; server-tool blocks are dropped here.
    items: list[tuple[str, dict[str, Any], str]] = []
    for j, block in enumerate(content):
        bparam = f"{param}.content[{j}]"
        kind = block_type(block, bparam)
        assert isinstance(block, dict)
        if kind in _SERVER_BLOCKS:
            _server_references(block, bparam, conv)
            continue
        if kind not in ("text", "tool_use", *_THINKING):
            raise InvalidRequest(f"unsupported content block type {shown(kind)} in an assistant message",
                                 param=bparam + ".type")  # fmt: skip
        items.append((kind, block, bparam))
    parts: list[Part] = []
    made: list[Part | None] = []  # the part each item produced (None: none)
    call_sigs: dict[int, str] = {}
    text_sigs: dict[int, str] = {}
    for k, (kind, block, bparam) in enumerate(items):
        part: Part | None = None
        if kind == "text":
            text = text_of(block, bparam)
            part = {"text": text} if text else None
            if part is not None and k in text_sigs:
                part["thoughtSignature"] = text_sigs[k]
        elif kind == "tool_use":
            part = _call(block, bparam, conv, call_sigs.get(k))
        else:
            part = _thinking(items, k, made, call_sigs, text_sigs, current)
        made.append(part)
        if part is not None:
            parts.append(part)
    return parts


def _thinking(items: list[tuple[str, dict[str, Any], str]], k: int, made: list[Part | None],
              call_sigs: dict[int, str], text_sigs: dict[int, str], current: bool) -> Part | None:  # fmt: skip
    kind, block, bparam = items[k]
    if kind == "thinking":
        text = block.get("thinking")
        if not isinstance(text, str):
            raise InvalidRequest("thinking must be a string", param=bparam + ".thinking")
        sig = block.get("signature")
        if sig is not None and not isinstance(sig, str):
            raise InvalidRequest("signature must be a string", param=bparam + ".signature")
    else:
        text, sig = "", block.get("data")
        if not isinstance(sig, str):
            raise InvalidRequest("data must be a string", param=bparam + ".data")
    after = items[k + 1][0] if k + 1 < len(items) else None
    before = made[k - 1] if k and items[k - 1][0] == "text" else None
    if sig:
        if after == "tool_use":
            call_sigs[k + 1], sig = sig, None
        elif text and after == "text":
            text_sigs[k + 1], sig = sig, None
        elif before is not None and "thoughtSignature" not in before:
            before["thoughtSignature"], sig = sig, None
        elif after == "text":
            text_sigs[k + 1], sig = sig, None
    thought = text if current else ""
    if not thought and not sig:
        return None
    part: Part = {"text": thought}
    if thought:
        part["thought"] = True
    if sig:
        part["thoughtSignature"] = sig
    return part


def _call(block: dict[str, Any], param: str, conv: Conversation, sig: str | None) -> Part:
    call_id, name, args = block.get("id"), block.get("name"), block.get("input")
    if not isinstance(call_id, str) or not call_id:
        raise InvalidRequest("tool_use id must be a non-empty string", param=param + ".id")
    if not isinstance(name, str) or not name:
        raise InvalidRequest("tool_use name must be a non-empty string", param=param + ".name")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise InvalidRequest("tool_use input must be an object", param=param + ".input")
    part: Part = {"functionCall": {"name": name, "args": args}}
    sig = sig or conv._signatures.get(call_id)
    if sig:
        part["thoughtSignature"] = sig
    conv._calls[call_id] = (name, len(conv._calls))
    conv.used_tools.add(name)
    return part


def _server_references(block: dict[str, Any], param: str, conv: Conversation) -> None:
    """A ``tool_search_tool_result`` in the history loads the tools it references."""
    content = block.get("content")
    refs = content.get("tool_references") if block.get("type") == "tool_search_tool_result" and isinstance(
        content, dict) else None  # fmt: skip
    for k, ref in enumerate(refs if isinstance(refs, list) else []):
        tool = ref.get("tool_name") if isinstance(ref, dict) else None
        if isinstance(tool, str) and tool:
            conv.references.setdefault(tool, f"{param}.content.tool_references[{k}].tool_name")


def _add_bypass_signatures(contents: list[Content]) -> None:
    for content in contents:
        if content["role"] != "model":
            continue
        for part in content["parts"]:
            if "functionCall" in part:
                part.setdefault("thoughtSignature", SKIP_SIGNATURE)
                break

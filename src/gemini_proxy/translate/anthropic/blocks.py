"""Anthropic input content blocks -> Gemini parts: text, image, document, search_result.

Media given by URL is fetched by the route before translation (``collect_media_urls`` lists the
URLs with the param naming each block); ``fetched_media`` maps each URL to (mime type, base64).
Files API sources (``{"type": "file", "file_id"}``) have no Gemini counterpart: a 400.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from gemini_proxy.errors import InvalidRequest, shown

from ..gemini_types import Part
from ..media import is_http_url

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
Fetched = Mapping[str, tuple[str, str]]


def block_type(block: object, param: str) -> str:
    if not isinstance(block, dict):
        raise InvalidRequest("content block must be an object", param=param)
    kind = block.get("type")
    if not isinstance(kind, str):
        raise InvalidRequest("content block needs a type", param=param + ".type")
    return kind


def text_of(block: dict[str, Any], param: str) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        raise InvalidRequest("text must be a string", param=param + ".text")
    return text


def _inline(mime: str, data: str) -> Part:
    return {"inlineData": {"mimeType": mime, "data": data}}


def _source(block: dict[str, Any], param: str) -> tuple[str, dict[str, Any]]:
    source = block.get("source")
    if not isinstance(source, dict):
        raise InvalidRequest("source must be an object", param=param + ".source")
    kind = source.get("type")
    if kind == "file":
        raise InvalidRequest("file sources (the Files API) are not supported; send base64 or a URL",
                             param=param + ".source.type")  # fmt: skip
    return str(kind), source


def _base64(source: dict[str, Any], param: str) -> str:
    data = source.get("data")
    if not isinstance(data, str) or not data:
        raise InvalidRequest("source.data must be a non-empty base64 string", param=param + ".source.data")
    return data


def _fetched(source: dict[str, Any], param: str, fetched: Fetched) -> Part:
    url = source.get("url")
    if not isinstance(url, str) or not is_http_url(url):
        raise InvalidRequest("source.url must be an http(s) URL", param=param + ".source.url")
    got = fetched.get(url)
    if got is None:
        raise InvalidRequest("URL was not fetched before translation", param=param + ".source.url")
    return _inline(*got)


def image_part(block: dict[str, Any], param: str, fetched: Fetched) -> Part:
    kind, source = _source(block, param)
    if kind == "base64":
        mime = source.get("media_type")
        if mime not in IMAGE_TYPES:
            raise InvalidRequest(f"image media_type must be one of {', '.join(sorted(IMAGE_TYPES))}",
                                 param=param + ".source.media_type")  # fmt: skip
        return _inline(str(mime), _base64(source, param))
    if kind == "url":
        return _fetched(source, param, fetched)
    raise InvalidRequest(f"unsupported image source type {shown(kind)}", param=param + ".source.type")


def document_parts(block: dict[str, Any], param: str, fetched: Fetched) -> list[Part]:
    kind, source = _source(block, param)
    if kind == "base64":
        if source.get("media_type") != "application/pdf":
            raise InvalidRequest("base64 documents must have media_type 'application/pdf'",
                                 param=param + ".source.media_type")  # fmt: skip
        return [_inline("application/pdf", _base64(source, param))]
    if kind == "text":
        data = source.get("data")
        if not isinstance(data, str):
            raise InvalidRequest("source.data must be a string", param=param + ".source.data")
        return [{"text": data}] if data else []
    if kind == "url":
        return [_fetched(source, param, fetched)]
    if kind == "content":
        content = source.get("content")
        if isinstance(content, str):
            return [{"text": content}] if content else []
        if not isinstance(content, list):
            raise InvalidRequest("source.content must be a string or an array of blocks",
                                 param=param + ".source.content")  # fmt: skip
        parts: list[Part] = []
        for k, inner in enumerate(content):
            parts.extend(simple_parts(inner, f"{param}.source.content[{k}]", fetched, ("text", "image")))
        return parts
    raise InvalidRequest(f"unsupported document source type {shown(kind)}", param=param + ".source.type")


def search_result_parts(block: dict[str, Any], param: str) -> list[Part]:
    content = block.get("content")
    if not isinstance(content, list):
        raise InvalidRequest("search_result content must be an array of text blocks", param=param + ".content")
    lines = [f"{block.get('title', '')} ({block.get('source', '')})"]
    for k, inner in enumerate(content):
        if block_type(inner, f"{param}.content[{k}]") != "text":
            raise InvalidRequest("search_result content must be text blocks", param=f"{param}.content[{k}].type")
        lines.append(text_of(inner, f"{param}.content[{k}]"))
    return [{"text": "\n".join(lines)}]


def simple_parts(block: object, param: str, fetched: Fetched, allowed: tuple[str, ...]) -> list[Part]:
    """A text / image / document / search_result block -> parts (empty text -> none)."""
    kind = block_type(block, param)
    assert isinstance(block, dict)
    if kind not in allowed:
        raise InvalidRequest(f"unsupported content block type {shown(kind)} here", param=param + ".type")
    if kind == "text":
        text = text_of(block, param)
        return [{"text": text}] if text else []
    if kind == "image":
        return [image_part(block, param, fetched)]
    if kind == "document":
        return document_parts(block, param, fetched)
    return search_result_parts(block, param)


def media_blocks(content: object, param: str) -> Iterator[tuple[dict[str, Any], str]]:
    """Every image/document block in ``content``, into tool results and content documents. Never raises."""
    if not isinstance(content, list):
        return
    for j, block in enumerate(content):
        if not isinstance(block, dict):
            continue
        bparam = f"{param}[{j}]"
        kind = block.get("type")
        if kind in ("image", "document"):
            yield block, bparam
            source = block.get("source")
            if isinstance(source, dict) and source.get("type") == "content":
                yield from media_blocks(source.get("content"), bparam + ".source.content")
        elif kind == "tool_result":
            yield from media_blocks(block.get("content"), bparam + ".content")

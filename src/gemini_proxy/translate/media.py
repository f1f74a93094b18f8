"""Media content parts (``image_url``, ``input_audio``, ``file``) -> Gemini ``inlineData`` parts.

Remote images are fetched by the route *before* translation (translation does no I/O):
``collect_media_urls(body)`` lists the http(s) URLs (with the param naming each), the route
fetches them and passes
``fetched_media: url -> (mime_type, base64 data)`` to ``to_gemini_request``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gemini_proxy.errors import InvalidRequest

from .gemini_types import Part

_AUDIO_MIME = {
    "wav": "audio/wav",
    "mp3": "audio/mp3",
    # Not in OpenAI's enum, but Gemini reads them; accepting costs nothing.
    "flac": "audio/flac",
    "aac": "audio/aac",
    "ogg": "audio/ogg",
    "aiff": "audio/aiff",
}
_EXT_MIME = {
    "pdf": "application/pdf",
    "txt": "text/plain",
    "md": "text/md",
    "html": "text/html",
    "csv": "text/csv",
    "xml": "text/xml",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
}


def is_data_url(url: str) -> bool:
    return url[:5].lower() == "data:"  # URL schemes are case-insensitive (RFC 3986 3.1)


def is_http_url(url: str) -> bool:
    return url[:7].lower() == "http://" or url[:8].lower() == "https://"


def parse_data_url(url: str, param: str) -> tuple[str, str]:
    """``data:<mime>;base64,<data>`` -> ``(mime, data)``. Anything else is a 400 naming ``param``."""
    head, sep, data = url.partition(",")
    if not sep or not is_data_url(head) or not head.lower().endswith(";base64"):
        raise InvalidRequest("invalid data URL: expected 'data:<mime type>;base64,<data>'", param=param)
    mime = head[5:-7].split(";", 1)[0].strip().lower()
    if "/" not in mime or not data:
        raise InvalidRequest("invalid data URL: missing mime type or data", param=param)
    return mime, data


def _inline(mime: str, data: str) -> Part:
    return {"inlineData": {"mimeType": mime, "data": data}}


def image_url(part: Mapping[str, Any]) -> object:
    """The URL of an ``image_url`` part: ``{"url": ...}``, or the bare string some clients send."""
    spec = part.get("image_url")
    return spec.get("url") if isinstance(spec, dict) else spec


def image_part(part: Mapping[str, Any], fetched: Mapping[str, tuple[str, str]], param: str) -> Part:
    url = image_url(part)
    if not isinstance(url, str) or not url:
        raise InvalidRequest("image_url.url must be a non-empty string", param=param)
    if is_data_url(url):
        return _inline(*parse_data_url(url, param))
    if is_http_url(url):
        got = fetched.get(url)
        if got is None:
            raise InvalidRequest("image URL was not fetched before translation", param=param)
        return _inline(*got)
    raise InvalidRequest("image_url.url must be a data URL or an http(s) URL", param=param)


def audio_part(part: Mapping[str, Any], param: str) -> Part:
    spec = part.get("input_audio")
    if not isinstance(spec, dict):
        raise InvalidRequest("input_audio must be an object", param=param)
    data, fmt = spec.get("data"), spec.get("format")
    if not isinstance(data, str) or not data:
        raise InvalidRequest("input_audio.data must be base64 audio", param=param + ".data")
    mime = _AUDIO_MIME.get(fmt) if isinstance(fmt, str) else None
    if mime is None:
        raise InvalidRequest("input_audio.format must be 'wav' or 'mp3'", param=param + ".format")
    return _inline(mime, data)


def file_part(part: Mapping[str, Any], param: str) -> Part:
    spec = part.get("file")
    if not isinstance(spec, dict):
        raise InvalidRequest("file must be an object", param=param)
    data = spec.get("file_data")
    if not isinstance(data, str) or not data:
        if spec.get("file_id") is not None:
            raise InvalidRequest("file_id is not supported; send file_data", param=param + ".file_id")
        raise InvalidRequest("file.file_data must be a data URL or base64", param=param + ".file_data")
    if is_data_url(data):
        return _inline(*parse_data_url(data, param + ".file_data"))
    filename = spec.get("filename")
    ext = filename.rsplit(".", 1)[-1].lower() if isinstance(filename, str) and "." in filename else "pdf"
    return _inline(_EXT_MIME.get(ext, "application/pdf"), data)


def collect_media_urls(body: object) -> list[tuple[str, str]]:
    """``(url, param)`` for each http(s) image URL the route must fetch before translation.

    ``param`` names the part (``messages[2].content[0].image_url``) so that a failed fetch can be
    reported as a 400 on the right field. Never raises: a malformed body is reported by
    ``to_gemini_request`` afterwards. Order of first appearance, no duplicate URLs.
    """
    urls: dict[str, str] = {}
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list):
        return []
    for i, message in enumerate(messages):
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        for j, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "image_url":
                continue
            url = image_url(part)
            if isinstance(url, str) and is_http_url(url):
                urls.setdefault(url, f"messages[{i}].content[{j}].image_url")
    return list(urls.items())

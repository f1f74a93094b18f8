"""Request builders shared by the request-side tests."""

from __future__ import annotations

from typing import Any

from gemini_proxy.translate import ChatCall, to_gemini_request

ALIASES = {"gpt-4o": "gemini-2.5-flash", "fast": "models/gemini-2.5-flash-lite"}
PNG = "iVBORw0KGgo="
USER = {"role": "user", "content": "hi"}
SIG = "c2lnbmF0dXJl"


def translate(body: Any, **kw: Any) -> ChatCall:
    return to_gemini_request(
        body,
        aliases=ALIASES,
        default_model=kw.pop("default_model", "gemini-2.5-flash"),
        signatures=kw.pop("signatures", {}),
        fetched_media=kw.pop("fetched_media", {}),
    )


def gem(body: dict[str, Any], **kw: Any) -> dict[str, Any]:
    result: dict[str, Any] = translate(body, **kw).gemini_body
    return result


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "gemini-2.5-flash", "messages": [USER], **fields}


def call_msg(*calls: tuple[str, str, str], content: Any = None, **extra: Any) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": content,
        "tool_calls": [{"id": i, "type": "function", "function": {"name": n, "arguments": a}} for i, n, a in calls],
        **extra,
    }


WEATHER = {
    "type": "function",
    "function": {
        "name": "weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
TIME = {"type": "function", "function": {"name": "now", "description": "current time"}}


def assert_subset(expected: Any, actual: Any, path: str = "") -> None:
    """Every key of ``expected`` is in ``actual`` with the same value and type (2 is not 2.0 on the wire)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), path
        for key, value in expected.items():
            assert key in actual, f"{path}.{key} missing in {actual}"
            assert_subset(value, actual[key], f"{path}.{key}")
    else:
        assert (expected, type(expected)) == (actual, type(actual)), path

"""Bad input -> a 400 in Anthropic's shape whose message starts with the field's path."""

from __future__ import annotations

from typing import Any

import pytest

from gemini_proxy.errors import InvalidRequest, NotFound
from gemini_proxy.translate.anthropic import error_to_anthropic, to_count_tokens_request

from .helpers import USER, assert_error, body, translate

TOOL = {"name": "f", "input_schema": {"type": "object", "properties": {"a": {"type": "string"}}}}
USE = {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}


def msgs(*content: Any, role: str = "user") -> dict[str, Any]:
    return body(messages=[{"role": role, "content": list(content)}])


def img(source: Any) -> dict[str, Any]:
    return {"type": "image", "source": source}


# (id, request, Anthropic-spelled param path)
BAD: list[tuple[str, Any, str | None]] = [
    ("body not an object", [], None),
    ("model missing", {"max_tokens": 5, "messages": [USER]}, "model"),
    ("model not a string", {**body(), "model": 5}, "model"),
    ("max_tokens missing", {"model": "gemini-2.5-flash", "messages": [USER]}, "max_tokens"),
    ("max_tokens zero", body(max_tokens=0), "max_tokens"),
    ("max_tokens a string", body(max_tokens="5"), "max_tokens"),
    ("messages missing", {"model": "gemini-2.5-flash", "max_tokens": 5}, "messages"),
    ("messages empty", body(messages=[]), "messages"),
    ("only empty messages", body(messages=[{"role": "user", "content": ""}]), "messages"),
    ("message not an object", body(messages=["hi"]), "messages.0"),
    ("unknown role", body(messages=[{"role": "robot", "content": "x"}]), "messages.0.role"),
    ("content missing", body(messages=[{"role": "user"}]), "messages.0.content"),
    ("content a number", body(messages=[{"role": "user", "content": 5}]), "messages.0.content"),
    ("block without type", msgs({"text": "x"}), "messages.0.content.0.type"),
    ("text not a string", msgs({"type": "text", "text": 5}), "messages.0.content.0.text"),
    ("unknown user block", msgs({"type": "video"}), "messages.0.content.0.type"),
    ("thinking in a user message", msgs({"type": "thinking", "thinking": "x", "signature": ""}),
     "messages.0.content.0.type"),
    ("image without source", msgs({"type": "image"}), "messages.0.content.0.source"),
    ("image bad media type", msgs(img({"type": "base64", "media_type": "text/plain", "data": "eA=="})),
     "messages.0.content.0.source.media_type"),
    ("image empty data", msgs(img({"type": "base64", "media_type": "image/png", "data": ""})),
     "messages.0.content.0.source.data"),
    ("image URL not fetched", msgs(img({"type": "url", "url": "https://x.test/a.png"})),
     "messages.0.content.0.source.url"),
    ("image URL not http", msgs(img({"type": "url", "url": "file:///etc/passwd"})), "messages.0.content.0.source.url"),
    ("image from the Files API", msgs(img({"type": "file", "file_id": "file_1"})), "messages.0.content.0.source.type"),
    ("document base64 not PDF", msgs({"type": "document", "source": {"type": "base64", "media_type": "text/csv",
                                                                     "data": "eA=="}}),
     "messages.0.content.0.source.media_type"),
    ("document unknown source", msgs({"type": "document", "source": {"type": "zip"}}),
     "messages.0.content.0.source.type"),
    ("tool_result for no tool_use", msgs({"type": "tool_result", "tool_use_id": "toolu_9", "content": "x"}),
     "messages.0.content.0.tool_use_id"),
    ("tool_reference outside a tool_result", msgs({"type": "tool_reference", "tool_name": "f"}),
     "messages.0.content.0.type"),
    ("tool_reference to an unknown tool", body(tools=[TOOL], messages=[
        USER, {"role": "assistant", "content": [USE]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                      "content": [{"type": "tool_reference", "tool_name": "nope"}]}]}]),
     "messages.2.content.0.content.0.tool_name"),
    ("is_error not a boolean", body(tools=[TOOL], messages=[
        USER, {"role": "assistant", "content": [USE]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "is_error": "yes"}]}]),
     "messages.2.content.0.is_error"),
    ("tool_use without id", msgs({"type": "tool_use", "name": "f", "input": {}}, role="assistant"),
     "messages.0.content.0.id"),
    ("tool_use input not an object", msgs({"type": "tool_use", "id": "t", "name": "f", "input": "x"}, role="assistant"),
     "messages.0.content.0.input"),
    ("thinking text not a string", msgs({"type": "thinking", "thinking": 5, "signature": ""}, role="assistant"),
     "messages.0.content.0.thinking"),
    ("image in an assistant message", msgs(img({"type": "base64", "media_type": "image/png", "data": "eA=="}),
                                           role="assistant"), "messages.0.content.0.type"),
    ("system not text", body(system=[{"type": "image"}]), "system.0.type"),
    ("system a number", body(system=5), "system"),
    ("tools not an array", body(tools={}), "tools"),
    ("tool without input_schema", body(tools=[{"name": "f"}]), "tools.0.input_schema"),
    ("tool bad name", body(tools=[{**TOOL, "name": "9 lives"}]), "tools.0.name"),
    ("duplicate tool names", body(tools=[TOOL, TOOL]), "tools.1.name"),
    ("defer_loading not a boolean", body(tools=[{**TOOL, "defer_loading": "yes"}]), "tools.0.defer_loading"),
    ("tool search server tool", body(tools=[{"type": "tool_search_tool_regex_20251119",
                                             "name": "tool_search_tool_regex"}]), "tools.0.type"),
    ("bash tool", body(tools=[{"type": "bash_20250124", "name": "bash"}]), "tools.0.type"),
    ("tool_choice not an object", body(tools=[TOOL], tool_choice="auto"), "tool_choice"),
    ("tool_choice unknown type", body(tools=[TOOL], tool_choice={"type": "required"}), "tool_choice.type"),
    ("tool_choice tool without name", body(tools=[TOOL], tool_choice={"type": "tool"}), "tool_choice.name"),
    ("tool_choice unknown tool", body(tools=[TOOL], tool_choice={"type": "tool", "name": "g"}), "tool_choice.name"),
    ("tool_choice any without tools", body(tool_choice={"type": "any"}), "tool_choice"),
    ("disable_parallel_tool_use not a boolean", body(tools=[TOOL], tool_choice={
        "type": "auto", "disable_parallel_tool_use": 1}), "tool_choice.disable_parallel_tool_use"),
    ("temperature above 1", body(temperature=1.5), "temperature"),
    ("top_p a string", body(top_p="x"), "top_p"),
    ("top_k zero", body(top_k=0), "top_k"),
    ("stop_sequences a string", body(stop_sequences="END"), "stop_sequences"),
    ("six stop_sequences", body(stop_sequences=list("abcdef")), "stop_sequences"),
    ("stream not a boolean", body(stream="yes"), "stream"),
    ("thinking not an object", body(thinking="on"), "thinking"),
    ("thinking unknown type", body(thinking={"type": "max"}), "thinking.type"),
    ("thinking budget missing", body(thinking={"type": "enabled"}), "thinking.budget_tokens"),
    ("thinking budget below 1024", body(thinking={"type": "enabled", "budget_tokens": 1000}), "thinking.budget_tokens"),
    ("thinking display unknown", body(thinking={"type": "adaptive", "display": "full"}), "thinking.display"),
    ("effort unknown", body(output_config={"effort": "extreme"}), "output_config.effort"),
    ("output format not json_schema", body(output_config={"format": {"type": "xml"}}), "output_config.format.type"),
    ("output format schema not an object", body(output_config={"format": {"type": "json_schema", "schema": 5}}),
     "output_config.format.schema"),
    ("mcp_servers", body(mcp_servers=[{"type": "url", "url": "https://x.test", "name": "x"}]), "mcp_servers"),
]  # fmt: skip


@pytest.mark.parametrize(("request_body", "param"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_is_a_400_naming_the_field(request_body: Any, param: str | None) -> None:
    with pytest.raises(InvalidRequest) as info:
        translate(request_body)
    status, error, headers = error_to_anthropic(info.value)
    assert status == 400 and headers == {}
    assert_error(error)
    assert error["error"]["type"] == "invalid_request_error"
    if param is not None:
        message = error["error"]["message"]
        assert message.startswith(param + ": "), error
        field = param.rsplit(".", 1)[-1]
        assert not message[len(param) + 2:].startswith(field + " "), error  # the field is named once


def test_count_tokens_needs_no_max_tokens_but_checks_the_rest() -> None:
    kw: dict[str, Any] = {"claude_models": {}, "aliases": {}, "signatures": {}, "fetched_media": {}}
    to_count_tokens_request({"model": "gemini-2.5-flash", "messages": [USER]}, **kw)
    with pytest.raises(InvalidRequest) as info:
        to_count_tokens_request({"model": "gemini-2.5-flash", "messages": [{"role": "bot", "content": "x"}]}, **kw)
    assert info.value.param == "messages[0].role"


def test_unmapped_claude_model_is_a_404_naming_the_setting() -> None:
    with pytest.raises(NotFound) as info:
        translate({**body(), "model": "claude-fable-5-2"})
    status, error, _ = error_to_anthropic(info.value)
    assert status == 404 and error["error"]["type"] == "not_found_error"
    assert "GEMINI_PROXY_ANTHROPIC_MODELS" in error["error"]["message"]
    assert_error(error)

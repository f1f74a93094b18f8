"""A request shaped like Claude Code 2.1.328's first turn translates cleanly."""

from __future__ import annotations

from typing import Any

from .helpers import translate

NAMES = ["Agent", "Bash", "Edit", "Read", "Write", "Skill", "ToolSearch", "Glob", "Grep", "WebFetch", "WebSearch",
         "TodoWrite"]  # fmt: skip
DEFERRED = {"WebFetch", "WebSearch", "TodoWrite"}


def tool(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "description": f"The {name} tool",
        "input_schema": {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "additionalProperties": False,
            "properties": {"path": {"type": "string", "description": "where"}, "limit": {"type": "number"}},
            "required": ["path"],
        },
        **({"defer_loading": True} if name in DEFERRED else {}),
        **({"cache_control": {"type": "ephemeral"}} if name == "TodoWrite" else {}),
    }


CLAUDE_CODE = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 32000,
    "stream": True,
    "thinking": {"type": "enabled", "budget_tokens": 31999, "display": "omitted"},
    "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
    "metadata": {"user_id": "user_abc_account__session_123"},
    "system": [
        {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "Use the tools.", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
    ],
    "tools": [tool(n) for n in NAMES],
    "messages": [{"role": "user", "content": [
        {"type": "text", "text": "<system-reminder>ctx</system-reminder>"},
        {"type": "text", "text": "Write hello.txt", "cache_control": {"type": "ephemeral"}},
    ]}],
}  # fmt: skip


def test_claude_code_request() -> None:
    call = translate(CLAUDE_CODE)
    gemini = call.gemini_body
    assert (call.model, call.stream, call.include_thoughts) == ("gemini-2.5-flash", True, False)
    assert gemini["systemInstruction"] == {"parts": [{"text": "You are Claude Code."}, {"text": "Use the tools."}]}
    decls = gemini["tools"][0]["functionDeclarations"]
    assert [d["name"] for d in decls] == [n for n in NAMES if n not in DEFERRED]
    assert decls[0]["parameters"] == {
        "type": "OBJECT",
        "properties": {"path": {"type": "STRING", "description": "where"}, "limit": {"type": "NUMBER"}},
        "required": ["path"],
        "propertyOrdering": ["path", "limit"],
    }
    assert gemini["generationConfig"] == {"maxOutputTokens": 32000, "thinkingConfig": {"thinkingBudget": 24576}}
    assert gemini["contents"] == [{"role": "user", "parts": [{"text": "<system-reminder>ctx</system-reminder>"},
                                                             {"text": "Write hello.txt"}]}]  # fmt: skip
    assert "context_management" not in str(gemini) and "cache_control" not in str(gemini)


def test_claude_code_loads_a_deferred_tool_through_tool_search() -> None:
    messages = [
        *CLAUDE_CODE["messages"],
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "", "signature": "c2ln"},
            {"type": "tool_use", "id": "toolu_1", "name": "ToolSearch", "input": {"query": "select:WebFetch"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": [
            {"type": "tool_reference", "tool_name": "WebFetch"}]}]},
    ]  # fmt: skip
    gemini = translate({**CLAUDE_CODE, "messages": messages}).gemini_body
    names = [d["name"] for d in gemini["tools"][0]["functionDeclarations"]]
    assert "WebFetch" in names and "WebSearch" not in names
    assert gemini["contents"][1]["parts"] == [
        {"functionCall": {"name": "ToolSearch", "args": {"query": "select:WebFetch"}}, "thoughtSignature": "c2ln"}
    ]

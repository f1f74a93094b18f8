"""Agents: the built-ins and the agents file, whose every mistake is one clear line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gemini_proxy.agents.registry import BUILTIN_AGENTS, AgentsFileError, load_agents


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "agents.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_builtins_without_a_file() -> None:
    registry = load_agents(None)
    assert registry.names() == ["coder", "extractor", "general", "summarizer"]
    assert len(registry) == len(BUILTIN_AGENTS)
    for agent in registry:
        assert agent.source == "builtin" and agent.description and agent.system
    extractor = registry.get("extractor")
    assert extractor is not None and extractor.response_mime_type == "application/json"
    assert registry.get("nobody") is None


def test_file_adds_and_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, {
        "reviewer": {"description": "Reviews.", "system": "Review it.", "model": "gemini-2.5-pro",
                     "temperature": 1, "max_output_tokens": 100, "thinking_level": "high"},
        "coder": {"system": "Only Rust."},
    })
    registry = load_agents(path)
    assert registry.names() == ["coder", "extractor", "general", "reviewer", "summarizer"]
    reviewer = registry.get("reviewer")
    assert reviewer is not None and reviewer.source == "file" and reviewer.temperature == 1.0
    assert reviewer.describe("gemini-2.5-flash") == {
        "name": "reviewer", "description": "Reviews.", "model": "gemini-2.5-pro", "source": "file",
        "temperature": 1.0, "max_output_tokens": 100, "thinking_level": "high",
    }
    coder = registry.get("coder")
    assert coder is not None and coder.system == "Only Rust." and coder.temperature is None
    assert coder.describe("gemini-2.5-flash")["model"] == "gemini-2.5-flash"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("", "is not valid JSON: Expecting value (line 1, column 1)"),
        ('{"a": {"system": "x"},}', "is not valid JSON"),
        ({}, "expected a JSON object mapping agent names"),
        ([{"system": "x"}], "expected a JSON object mapping agent names"),
        ({"UPPER": {"system": "x"}}, "invalid agent name 'UPPER'"),
        ({"a" * 65: {"system": "x"}}, "invalid agent name"),
        ({"a": "You are..."}, "agent 'a': expected an object, got str"),
        ({"a": {}}, "agent 'a': system: Field required"),
        ({"a": {"system": ""}}, "agent 'a': system: String should have at least 1 character"),
        ({"a": {"system": "x", "sytem": "y"}}, "agent 'a': sytem: unknown field"),
        ({"a": {"system": "x", "temperature": "0.5"}}, "agent 'a': temperature: Input should be a valid number"),
        ({"a": {"system": "x", "temperature": 2.5}}, "agent 'a': temperature: Input should be less than or equal"),
        ({"a": {"system": "x", "max_output_tokens": 0}}, "agent 'a': max_output_tokens: Input should be greater"),
        ({"a": {"system": "x", "max_output_tokens": True}}, "agent 'a': max_output_tokens: Input should be a valid"),
        ({"a": {"system": "x", "model": "models/../x"}}, "agent 'a': model: expected a bare Gemini model id"),
        ({"a": {"system": "x", "thinking_level": "extreme"}}, "agent 'a': thinking_level: Input should be"),
        ({"a": {"system": "x", "response_mime_type": "text/html"}}, "agent 'a': response_mime_type:"),
        ({"a": {"system": "x", "thinking_budget": 1, "thinking_level": "low"}}, "set thinking_budget or thinking_"),
    ],
)
def test_bad_files_name_the_problem_in_one_line(tmp_path: Path, data: object, message: str) -> None:
    path = write(tmp_path, data)
    with pytest.raises(AgentsFileError) as info:
        load_agents(path)
    text = str(info.value)
    assert text.startswith(f"{path}") and message in text and "\n" not in text, text


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(AgentsFileError, match="cannot read .*nope.json"):
        load_agents(tmp_path / "nope.json")
    with pytest.raises(AgentsFileError, match="cannot read"):
        load_agents(tmp_path)  # a directory
    (tmp_path / "latin1.json").write_bytes(b'{"a": {"system": "caf\xe9"}}')
    with pytest.raises(AgentsFileError, match="cannot read"):
        load_agents(tmp_path / "latin1.json")

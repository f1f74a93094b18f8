"""Named agents: built-ins and the agents file (``GEMINI_PROXY_AGENTS_FILE``).

An agent is a named, reusable configuration of a Gemini call: a system instruction, a model and
generation settings. A job names an agent and gives it a task; the agent decides how Gemini is
asked. The agents file is JSON, one object per agent name; a name that is also a built-in's
replaces the built-in::

    {
      "reviewer": {
        "description": "Reviews a diff and lists problems by severity.",
        "system": "You are a meticulous code reviewer. ...",
        "model": "gemini-2.5-pro",
        "temperature": 0.2,
        "max_output_tokens": 4096,
        "thinking_budget": 2048,
        "response_mime_type": "text/plain"
      }
    }

Only ``system`` is required (``description`` is advised). ``model`` defaults to
``GEMINI_PROXY_DEFAULT_MODEL``; ``thinking_budget`` and ``thinking_level`` (Gemini 3) are
exclusive, as Gemini requires. ``load_agents`` raises ``AgentsFileError`` with one line naming
the problem; ``cli.py`` turns it into an exit with code 2.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = ["BUILTIN_AGENTS", "Agent", "AgentRegistry", "AgentsFileError", "load_agents"]

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,127}")


class AgentsFileError(ValueError):
    """The agents file cannot be used; the message is one line naming the file and the problem."""


@dataclass(frozen=True, slots=True)
class Agent:
    name: str
    description: str
    system: str
    model: str | None = None  # None: the proxy's default model
    temperature: float | None = None
    max_output_tokens: int | None = None
    thinking_budget: int | None = None
    thinking_level: str | None = None
    response_mime_type: str | None = None
    source: str = "builtin"  # "builtin" or "file"

    def describe(self, default_model: str) -> dict[str, Any]:
        """The agent as the status API shows it."""
        settings = {
            "temperature": self.temperature,
            "max_output_tokens": self.max_output_tokens,
            "thinking_budget": self.thinking_budget,
            "thinking_level": self.thinking_level,
            "response_mime_type": self.response_mime_type,
        }
        return {
            "name": self.name,
            "description": self.description,
            "model": self.model or default_model,
            "source": self.source,
            **{k: v for k, v in settings.items() if v is not None},
        }


BUILTIN_AGENTS: tuple[Agent, ...] = (
    Agent(
        "general",
        "A careful general-purpose assistant: answers the task directly and completely.",
        "You are a careful, capable assistant working on a task delegated to you by another program. "
        "Do the task completely, state assumptions briefly, and answer with the result only.",
    ),
    Agent(
        "summarizer",
        "Summarises the context (or the task's text) faithfully in a few bullet points.",
        "You summarise faithfully. Use only facts present in the text you are given; never add any. "
        "Answer with at most seven short bullet points, most important first, unless the task asks otherwise.",
        temperature=0.2,
    ),
    Agent(
        "coder",
        "Writes, fixes or reviews code; answers with the code and a short explanation.",
        "You are a senior software engineer. Write correct, idiomatic, tested-looking code. Answer with the "
        "code in fenced blocks, then at most a few sentences on decisions and anything left to check.",
        temperature=0.2,
    ),
    Agent(
        "extractor",
        "Extracts structured data from the context and answers with JSON only.",
        "You extract structured data. Follow the task's description of the fields exactly, use null for "
        "anything the text does not state, and answer with a single JSON value and nothing else.",
        temperature=0.0,
        response_mime_type="application/json",
    ),
)


class _AgentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    description: str = ""
    system: str = Field(min_length=1)
    model: str | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    max_output_tokens: int | None = Field(None, ge=1)
    thinking_budget: int | None = Field(None, ge=-1)
    thinking_level: Literal["minimal", "low", "medium", "high"] | None = None
    response_mime_type: Literal["text/plain", "application/json", "text/x.enum"] | None = None

    @field_validator("model")
    @classmethod
    def _bare_model_id(cls, value: str | None) -> str | None:
        if value is not None and MODEL.fullmatch(value) is None:
            raise ValueError(f"expected a bare Gemini model id such as gemini-2.5-flash, got {value!r}")
        return value

    @model_validator(mode="after")
    def _one_thinking_setting(self) -> _AgentSpec:
        if self.thinking_budget is not None and self.thinking_level is not None:
            raise ValueError("set thinking_budget or thinking_level, not both")
        return self


class AgentRegistry:
    def __init__(self, agents: Mapping[str, Agent]) -> None:
        self._agents = dict(agents)

    def get(self, name: str) -> Agent | None:
        return self._agents.get(name)

    def names(self) -> list[str]:
        return sorted(self._agents)

    def __iter__(self) -> Iterator[Agent]:
        return iter(self._agents[name] for name in self.names())

    def __len__(self) -> int:
        return len(self._agents)


def load_agents(path: Path | None) -> AgentRegistry:
    """The built-in agents, plus (and overridden by) those of the agents file at ``path``."""
    agents = {agent.name: agent for agent in BUILTIN_AGENTS}
    if path is None:
        return AgentRegistry(agents)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AgentsFileError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AgentsFileError(f"{path} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(data, dict) or not data:
        raise AgentsFileError(f"{path}: expected a JSON object mapping agent names to agents, e.g. "
                              '{"reviewer": {"system": "..."}}')
    for name, raw in data.items():
        if NAME.fullmatch(name) is None:
            raise AgentsFileError(
                f"{path}: invalid agent name {name!r}: use 1-64 lowercase letters, digits, '-' or '_'"
            )
        if not isinstance(raw, dict):
            raise AgentsFileError(f"{path}: agent {name!r}: expected an object, got {type(raw).__name__}")
        try:
            spec = _AgentSpec.model_validate(raw)
        except ValidationError as exc:
            raise AgentsFileError(f"{path}: agent {name!r}: {_first_error(exc)}") from None
        agents[name] = Agent(name=name, source="file", **spec.model_dump())
    return AgentRegistry(agents)


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    field = ".".join(str(part) for part in error.get("loc", ()))
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    if error.get("type") == "extra_forbidden":
        message = "unknown field"
    return f"{field}: {message}" if field else message

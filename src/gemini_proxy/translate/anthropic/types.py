"""What the route and the response side need to know about one Messages request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)  # read-only by convention, like ChatCall
class MessagesCall:
    model: str
    """Bare Gemini id after resolution, e.g. ``gemini-2.5-flash``."""
    requested_model: str
    """The name the client sent; echoed as ``model`` in the message."""
    gemini_body: dict[str, Any]
    """GenerateContentRequest JSON (camelCase), ready to send."""
    stream: bool
    include_thoughts: bool = False
    """Thought summaries become ``thinking`` text (thinking enabled/adaptive, display not omitted)."""
    parallel_tool_use: bool = True
    """``False`` (``disable_parallel_tool_use``): only the first tool_use is returned."""
    server_tools: frozenset[str] = field(default_factory=frozenset)
    """Anthropic server tools the request declared: ``web_search``, ``web_fetch``, ``code_execution``."""


@dataclass(slots=True)
class CountTokensCall:
    model: str
    gemini_body: dict[str, Any]
    """``CountTokensRequest`` JSON: ``{"generateContentRequest": {...}}``, ready to send."""

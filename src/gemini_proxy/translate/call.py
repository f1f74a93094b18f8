"""``ChatCall``: what the route and the response side need to know about one chat request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)  # read-only by convention: a frozen dataclass's __init__ costs ~2.4 us more per request
class ChatCall:
    model: str
    """Bare Gemini id after alias/prefix resolution, e.g. ``gemini-2.5-flash``."""
    requested_model: str
    """The name the client sent; echoed as ``model`` in every response and chunk."""
    gemini_body: dict[str, Any]
    """GenerateContentRequest JSON (camelCase), ready to send."""
    stream: bool
    include_usage: bool
    """``stream_options.include_usage``: send ``usage: null`` on chunks and a final usage chunk."""
    include_thoughts: bool
    """Thought-summary parts come back as ``reasoning_content`` (otherwise they are dropped)."""
    n: int
    parallel_tool_calls: bool = True
    """``False``: only the first function call of each choice is returned (Gemini has no switch)."""
    legacy_functions: bool = False
    """The request used ``functions``/``function_call``: answer with ``message.function_call``."""
    logprobs: bool = False
    """The client asked for ``logprobs``: map ``logprobsResult``."""
    web_search: bool = False
    """``web_search_options`` was sent: Google Search grounding becomes ``annotations``."""

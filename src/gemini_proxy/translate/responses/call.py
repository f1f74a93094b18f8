"""What one Responses request leaves for the response side, the store and the route.

``ResponsesCall`` is built by ``to_gemini_request``; ``Conversation`` is the Gemini-side state
a response adds to (kept by the response store for ``previous_response_id``); ``StoredResponse``
is the record the store keeps per stored response.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict

from ..gemini_types import Content, Part


class Conversation(TypedDict):
    """The Gemini side of a conversation, as the next turn needs it.

    ``contents``: every turn so far (user turns, model turns with their thought signatures,
    function responses). ``system``: system/developer *input messages* (not ``instructions``,
    which OpenAI does not carry over to a follow-up). ``calls``: call_id -> Gemini function name
    of every function call in ``contents`` (a ``function_call_output`` names only its call_id).
    """

    contents: list[Content]
    system: list[Part]
    calls: dict[str, str]


class StoredResponse(TypedDict):
    """One stored response: what ``GET /v1/responses/{id}``, ``.../input_items`` and a follow-up
    with ``previous_response_id`` read. JSON-serialisable (orjson) as it is."""

    response: dict[str, Any]
    """The final ``Response`` object, as sent."""
    input_items: list[dict[str, Any]]
    """This request's input as items, each with an ``id`` (``to_input_items``)."""
    conversation: Conversation
    """Through this response's answer: what a follow-up sends before its own input."""
    previous_response_id: str | None


@dataclass(slots=True)  # read-only by convention, as ChatCall
class ResponsesCall:
    model: str
    """Bare Gemini id after alias/prefix resolution."""
    requested_model: str
    """The name the client sent; echoed as ``model``."""
    gemini_body: dict[str, Any]
    """GenerateContentRequest JSON (camelCase), ready to send."""
    stream: bool
    store: bool
    include_thoughts: bool
    """``reasoning.summary`` was set: thought summaries come back as reasoning ``summary_text``."""
    include_encrypted: bool
    """``include`` has ``reasoning.encrypted_content``: thought signatures go back in reasoning items."""
    parallel_tool_calls: bool
    """``False``: only the first function call of the answer is returned (Gemini has no switch)."""
    names: dict[str, tuple[str | None, str]]
    """Gemini function name -> (namespace, name) for every declared function (namespace flattening)."""
    echo: dict[str, Any]
    """The request's parameters as the ``Response`` object repeats them."""
    conversation: Conversation
    """What is sent: the previous conversation plus this input (the store adds the answer)."""
    previous_response_id: str | None = None
    web_search: bool = False
    """Google Search grounding was requested: ``url_citation`` annotations and ``web_search_call`` items come back."""
    include_sources: bool = False
    """``include`` has ``web_search_call.action.sources``: each search lists the sources Google gave."""
    extra: dict[str, Any] = field(default_factory=dict)

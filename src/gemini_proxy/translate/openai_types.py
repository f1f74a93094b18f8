"""OpenAI Chat Completions wire shapes we produce, with the spec's field names.

Inputs are read as plain dicts (checked by hand in ``request.py``); these describe outputs.
Extensions beyond the spec: ``reasoning_content`` (thought summaries), ``extra_content.google``
(thought signatures, the shape Google's own OpenAI-compatible endpoint uses) and ``images``.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "function_call"]


class GoogleExtra(TypedDict):
    thought_signature: str


class ExtraContent(TypedDict):
    google: GoogleExtra


class FunctionCall(TypedDict):
    name: str
    arguments: str


class ToolCall(TypedDict):
    id: str
    type: Literal["function"]
    function: FunctionCall
    extra_content: NotRequired[ExtraContent]


class ToolCallDelta(ToolCall):
    index: int


class PromptTokensDetails(TypedDict):
    cached_tokens: int


class CompletionTokensDetails(TypedDict):
    reasoning_tokens: int


class Usage(TypedDict):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails
    completion_tokens_details: CompletionTokensDetails


class Message(TypedDict):
    role: Literal["assistant"]
    content: str | None
    refusal: str | None
    tool_calls: NotRequired[list[ToolCall]]
    function_call: NotRequired[FunctionCall]
    reasoning_content: NotRequired[str]
    images: NotRequired[list[dict[str, Any]]]
    extra_content: NotRequired[ExtraContent]
    annotations: NotRequired[list[dict[str, Any]]]


class Choice(TypedDict):
    index: int
    message: Message
    logprobs: dict[str, Any] | None
    finish_reason: FinishReason


class ChatCompletion(TypedDict):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[Choice]
    usage: Usage


class Delta(TypedDict, total=False):
    role: Literal["assistant"]
    content: str | None
    refusal: str | None
    reasoning_content: str
    tool_calls: list[ToolCallDelta]
    function_call: FunctionCall
    images: list[dict[str, Any]]


class ChunkChoice(TypedDict):
    index: int
    delta: Delta
    logprobs: dict[str, Any] | None
    finish_reason: FinishReason | None


class ChatCompletionChunk(TypedDict):
    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: NotRequired[Usage | None]


class ErrorObject(TypedDict):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorBody(TypedDict):
    error: ErrorObject

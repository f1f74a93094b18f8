"""Gemini ``v1beta`` wire shapes (camelCase, as on the wire) that the translation builds.

Responses from Gemini are read as plain dicts: every field may be missing (proto3 JSON drops
zero values, blocked candidates have no ``content``, ``index`` is often omitted).
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict


class Blob(TypedDict):
    mimeType: str
    data: str


class FunctionCall(TypedDict):
    name: str
    args: dict[str, Any]


class FunctionResponse(TypedDict):
    name: str
    response: dict[str, Any]


class Part(TypedDict, total=False):
    text: str
    inlineData: Blob
    functionCall: FunctionCall
    functionResponse: FunctionResponse
    thought: bool
    thoughtSignature: str


class Content(TypedDict, total=False):
    role: Literal["user", "model"]
    parts: list[Part]


class FunctionCallingConfig(TypedDict, total=False):
    mode: Literal["AUTO", "ANY", "NONE", "VALIDATED"]
    allowedFunctionNames: list[str]


class ToolConfig(TypedDict):
    functionCallingConfig: FunctionCallingConfig


class ThinkingConfig(TypedDict, total=False):
    includeThoughts: bool
    thinkingBudget: int
    thinkingLevel: str


class GenerationConfig(TypedDict, total=False):
    temperature: float
    topP: float
    topK: int
    candidateCount: int
    maxOutputTokens: int
    stopSequences: list[str]
    presencePenalty: float
    frequencyPenalty: float
    seed: int
    responseMimeType: str
    responseSchema: dict[str, Any]
    responseJsonSchema: dict[str, Any]
    responseLogprobs: bool
    logprobs: int
    thinkingConfig: ThinkingConfig


class GenerateContentRequest(TypedDict, total=False):
    contents: list[Content]
    systemInstruction: Content
    tools: list[dict[str, Any]]
    toolConfig: ToolConfig
    safetySettings: list[dict[str, Any]]
    generationConfig: GenerationConfig
    cachedContent: str

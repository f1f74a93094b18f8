"""Proto3-JSON request parsing the way Google's front end does it.

Accepts lowerCamelCase and snake_case names, a single object for a repeated field, enum
values in any case and numbers given as strings; answers unknown names and bad values with
Google's 400 texts and ``BadRequest.fieldViolations``. Returns the request normalised to
camelCase (user data such as ``args``, ``response`` or JSON Schemas is left untouched).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from typing import Any

from gemini_proxy.simulator import errors

# kinds: "s" string, "i" int32, "l" int64, "f" number, "b" bool, "y" bytes (base64),
# "d" google.protobuf.Duration ("1.5s"), "t" google.protobuf.Timestamp (RFC 3339), "any" (free JSON),
# "@Name" a message, "!Name" an enum, "[kind" repeated, "{kind" a map of string -> kind.
MESSAGES: dict[str, dict[str, str]] = {
    "GenerateContentRequest": {
        "model": "s", "contents": "[@Content", "systemInstruction": "@Content", "tools": "[@Tool",
        "toolConfig": "@ToolConfig", "safetySettings": "[@SafetySetting", "generationConfig": "@GenerationConfig",
        "cachedContent": "s",
    },
    "Content": {"parts": "[@Part", "role": "s"},
    "Part": {
        "text": "s", "inlineData": "@Blob", "fileData": "@FileData", "functionCall": "@FunctionCall",
        "functionResponse": "@FunctionResponse", "executableCode": "@ExecutableCode",
        "codeExecutionResult": "@CodeExecutionResult", "videoMetadata": "@VideoMetadata", "thought": "b",
        "thoughtSignature": "y", "partMetadata": "any", "mediaResolution": "any",
    },
    "Blob": {"mimeType": "s", "data": "y"},
    "FileData": {"mimeType": "s", "fileUri": "s"},
    "FunctionCall": {"id": "s", "name": "s", "args": "any"},
    "FunctionResponse": {
        "id": "s", "name": "s", "response": "any", "parts": "[@FunctionResponsePart", "willContinue": "b",
        "scheduling": "s",
    },
    "FunctionResponsePart": {"inlineData": "@Blob"},
    "ExecutableCode": {"language": "s", "code": "s"},
    "CodeExecutionResult": {"outcome": "s", "output": "s"},
    "VideoMetadata": {"startOffset": "d", "endOffset": "d", "fps": "f"},
    "GenerationConfig": {
        "candidateCount": "i", "stopSequences": "[s", "maxOutputTokens": "i", "temperature": "f", "topP": "f",
        "topK": "i", "seed": "i", "responseMimeType": "s", "responseSchema": "@Schema", "responseJsonSchema": "any",
        "responseJsonSchemaOrdered": "any", "presencePenalty": "f", "frequencyPenalty": "f",
        "responseLogprobs": "b", "logprobs": "i", "enableEnhancedCivicAnswers": "b",
        "responseModalities": "[!Modality", "speechConfig": "any", "thinkingConfig": "@ThinkingConfig",
        "imageConfig": "any", "mediaResolution": "!MediaResolution",
    },
    "ThinkingConfig": {"includeThoughts": "b", "thinkingBudget": "i", "thinkingLevel": "!ThinkingLevel"},
    "Tool": {
        "functionDeclarations": "[@FunctionDeclaration", "googleSearchRetrieval": "any", "codeExecution": "any",
        "googleSearch": "any", "computerUse": "any", "urlContext": "any", "fileSearch": "any", "googleMaps": "any",
    },
    "FunctionDeclaration": {
        "name": "s", "description": "s", "parameters": "@Schema", "parametersJsonSchema": "any",
        "response": "@Schema", "responseJsonSchema": "any", "behavior": "s",
    },
    "ToolConfig": {"functionCallingConfig": "@FunctionCallingConfig", "retrievalConfig": "any"},
    "FunctionCallingConfig": {"mode": "!Mode", "allowedFunctionNames": "[s"},
    "SafetySetting": {"category": "!HarmCategory", "threshold": "!HarmBlockThreshold"},
    "Schema": {
        "type": "!Type", "format": "s", "title": "s", "description": "s", "nullable": "b", "enum": "[s",
        "items": "@Schema", "maxItems": "l", "minItems": "l", "properties": "{@Schema", "required": "[s",
        "minProperties": "l", "maxProperties": "l", "minimum": "f", "maximum": "f", "minLength": "l",
        "maxLength": "l", "pattern": "s", "example": "any", "anyOf": "[@Schema", "propertyOrdering": "[s",
        "default": "any",
    },
    "CountTokensRequest": {"model": "s", "contents": "[@Content", "generateContentRequest": "@GenerateContentRequest"},
    "EmbedContentRequest": {
        "model": "s", "content": "@Content", "taskType": "!TaskType", "title": "s", "outputDimensionality": "i",
    },
    "BatchEmbedContentsRequest": {"model": "s", "requests": "[@EmbedContentRequest"},
    "CachedContent": {
        "expireTime": "t", "ttl": "d", "name": "s", "displayName": "s", "model": "s",
        "systemInstruction": "@Content", "contents": "[@Content", "tools": "[@Tool", "toolConfig": "@ToolConfig",
    },
}

_ENUM_PKG = "type.googleapis.com/google.ai.generativelanguage.v1beta."
ENUMS: dict[str, tuple[str, frozenset[str]]] = {
    "Mode": ("FunctionCallingConfig.Mode", frozenset({"MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"})),
    "ThinkingLevel": ("ThinkingConfig.ThinkingLevel",
                      frozenset({"THINKING_LEVEL_UNSPECIFIED", "MINIMAL", "LOW", "MEDIUM", "HIGH"})),
    "Type": ("Type", frozenset({"TYPE_UNSPECIFIED", "STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT",
                                "NULL"})),
    "Modality": ("GenerationConfig.Modality", frozenset({"MODALITY_UNSPECIFIED", "TEXT", "IMAGE", "AUDIO"})),
    "MediaResolution": ("GenerationConfig.MediaResolution", frozenset({
        "MEDIA_RESOLUTION_UNSPECIFIED", "MEDIA_RESOLUTION_LOW", "MEDIA_RESOLUTION_MEDIUM",
        "MEDIA_RESOLUTION_HIGH"})),
    "HarmCategory": ("HarmCategory", frozenset({
        "HARM_CATEGORY_UNSPECIFIED", "HARM_CATEGORY_HARASSMENT", "HARM_CATEGORY_HATE_SPEECH",
        "HARM_CATEGORY_SEXUALLY_EXPLICIT", "HARM_CATEGORY_DANGEROUS_CONTENT", "HARM_CATEGORY_CIVIC_INTEGRITY"})),
    "HarmBlockThreshold": ("SafetySetting.HarmBlockThreshold", frozenset({
        "HARM_BLOCK_THRESHOLD_UNSPECIFIED", "BLOCK_LOW_AND_ABOVE", "BLOCK_MEDIUM_AND_ABOVE", "BLOCK_ONLY_HIGH",
        "BLOCK_NONE", "OFF"})),
    "TaskType": ("TaskType", frozenset({
        "TASK_TYPE_UNSPECIFIED", "RETRIEVAL_QUERY", "RETRIEVAL_DOCUMENT", "SEMANTIC_SIMILARITY", "CLASSIFICATION",
        "CLUSTERING", "QUESTION_ANSWERING", "FACT_VERIFICATION", "CODE_RETRIEVAL_QUERY"})),
}
_SCALAR_TYPE = {
    "s": "TYPE_STRING", "i": "TYPE_INT32", "l": "TYPE_INT64", "f": "TYPE_FLOAT", "b": "TYPE_BOOL", "y": "TYPE_BYTES",
    "d": "type.googleapis.com/google.protobuf.Duration", "t": "type.googleapis.com/google.protobuf.Timestamp",
}
_INT_BITS = {"i": 31, "l": 63}
_DURATION = re.compile(r"(-?)(\d+)(?:\.(\d{1,9}))?s")
_TIMESTAMP = re.compile(r"(\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})")
MAX_DURATION_SECONDS = 315_576_000_000  # google.protobuf.Duration's range (about 10,000 years)


def parse_duration(text: str) -> float | None:
    """Seconds of a proto3-JSON Duration (``"300s"``, ``"1.5s"``, ``"-2s"``), or None when malformed."""
    m = _DURATION.fullmatch(text)
    if m is None or int(m.group(2)) > MAX_DURATION_SECONDS:
        return None
    seconds = int(m.group(2)) + (int(m.group(3).ljust(9, "0")) / 1e9 if m.group(3) else 0.0)
    return -seconds if m.group(1) else seconds


def parse_timestamp(text: str) -> float | None:
    """POSIX seconds of a proto3-JSON Timestamp (RFC 3339, ``Z`` or an offset), or None when malformed."""
    m = _TIMESTAMP.fullmatch(text)
    if m is None:
        return None
    zone = "+00:00" if m.group(3) in ("Z", "z") else m.group(3)
    try:
        when = dt.datetime.fromisoformat(m.group(1).replace("t", "T") + zone)
    except ValueError:
        return None
    return when.timestamp() + (int(m.group(2).ljust(9, "0")) / 1e9 if m.group(2) else 0.0)


def snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


# every accepted spelling -> (camelCase name, kind), per message
_LOOKUP: dict[str, dict[str, tuple[str, str]]] = {
    msg: {**{k: (k, kind) for k, kind in fields.items()}, **{snake(k): (k, kind) for k, kind in fields.items()}}
    for msg, fields in MESSAGES.items()
}
_ROLES = frozenset({"user", "model", "function"})


class _Walker:
    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []

    def message(self, name: str, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.problems.append((path, errors.invalid_value_text(path, _ENUM_PKG + name, value)))
            return {}
        lookup = _LOOKUP[name]
        out: dict[str, Any] = {}
        for key, item in value.items():
            found = lookup.get(key)
            if found is None:
                self.problems.append((path, errors.unknown_field_text(key, path)))
                continue
            camel, kind = found
            if item is None:
                continue
            sub = f"{path}.{snake(camel)}" if path else snake(camel)
            out[camel] = self.value(kind, item, sub)
        if name == "Content" and "role" in out and out["role"] not in _ROLES:
            self.problems.append((f"{path}.role", "Please use a valid role: user, model."))
        return out

    def value(self, kind: str, item: Any, path: str) -> Any:
        if kind == "any":
            return item
        if kind[0] == "@":
            return self.message(kind[1:], item, path)
        if kind[0] == "[":
            items = item if isinstance(item, list) else [item]
            return [self.value(kind[1:], x, f"{path}[{i}]") for i, x in enumerate(items)]
        if kind[0] == "{":
            if not isinstance(item, dict):
                self.problems.append((path, errors.invalid_value_text(path, "map", item)))
                return {}
            return {k: self.value(kind[1:], v, f"{path}[{i}].value") for i, (k, v) in enumerate(item.items())}
        if kind[0] == "!":
            return self.enum(kind[1:], item, path)
        return self.scalar(kind, item, path)

    def enum(self, name: str, item: Any, path: str) -> Any:
        type_name, allowed = ENUMS[name]
        if isinstance(item, list):
            self.problems.append((path, errors.unknown_field_text(path.rsplit(".", 1)[-1], path.rsplit(".", 1)[0])
                                  .replace("Cannot find field.", "Proto field is not repeating, cannot start list.")))
            return None
        if isinstance(item, str) and item.upper() in allowed and not (name == "Type" and item == "null"):
            return item.upper()
        self.problems.append((path, errors.invalid_value_text(path, _ENUM_PKG + type_name, item)))
        return None

    def scalar(self, kind: str, item: Any, path: str) -> Any:
        ok = True
        if kind == "s":
            ok = isinstance(item, str)
        elif kind == "b":
            ok = isinstance(item, bool)
        elif kind in _INT_BITS:
            number: Any = item
            if isinstance(item, str) and re.fullmatch(r"-?\d+", item):
                number = int(item)
            ok = isinstance(number, int) and not isinstance(number, bool) or (
                isinstance(number, float) and number.is_integer())
            if ok:
                number = int(number)
                ok = -(2 ** _INT_BITS[kind]) <= number < 2 ** _INT_BITS[kind]  # out of range: Google's 400 too
            item = number if ok else item
        elif kind == "d":
            ok = isinstance(item, str) and parse_duration(item) is not None
        elif kind == "t":
            ok = isinstance(item, str) and parse_timestamp(item) is not None
        elif kind == "f":
            if isinstance(item, str):
                try:
                    item = float(item)
                except ValueError:
                    ok = False
            ok = ok and isinstance(item, int | float) and not isinstance(item, bool)
        elif kind == "y":
            ok = isinstance(item, str) and decode_bytes(item) is not None
            if isinstance(item, str) and not ok:
                self.problems.append((path, f"Invalid value at '{path}' (TYPE_BYTES), Base64 decoding failed for "
                                            f'"{item}"'))
                return item
        if not ok:
            self.problems.append((path, errors.invalid_value_text(path, _SCALAR_TYPE[kind], item)))
        return item


def decode_bytes(text: str) -> bytes | None:
    """Proto3 JSON bytes: standard or URL-safe base64, padding optional."""
    padded = text + "=" * (-len(text) % 4)
    try:
        # altchars maps the URL-safe "-_" onto "+/" first, so both alphabets are validated strictly
        return base64.b64decode(padded.encode(), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return None


def parse(message: str, body: Any) -> dict[str, Any]:
    """Validate and normalise ``body`` as the given message, or raise Google's 400."""
    w = _Walker()
    if not isinstance(body, dict):
        raise errors.invalid_argument("Invalid JSON payload received. Expected an object.")
    out = w.message(message, body, "")
    if w.problems:
        raise errors.violations(w.problems)
    return out

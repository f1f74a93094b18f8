"""The model catalogue: Model objects shaped like Google's, aliases, and list paging."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from gemini_proxy.simulator import errors

CHAT_METHODS = ("generateContent", "countTokens", "createCachedContent", "batchGenerateContent")
EMBED_METHODS = ("embedContent", "countTextTokens", "countTokens", "asyncBatchEmbedContent")
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class ModelInfo:
    id: str
    version: str
    display_name: str
    description: str
    input_limit: int = 1048576
    output_limit: int = 65536
    methods: tuple[str, ...] = CHAT_METHODS
    top_k: int = 64
    family: str = "2.5"  # "2.0", "2.5", "3" or "embed"
    resolves_to: str | None = None  # alias: the modelVersion it answers with
    budget_min: int = 0  # smallest non-zero thinking budget
    budget_max: int = 24576
    can_disable: bool = True  # thinkingBudget 0 switches thinking off
    default_thinking: bool = True
    levels: tuple[str, ...] = ()  # accepted thinkingLevel values (Gemini 3)
    embed_dim: int = 0

    @property
    def thinking(self) -> bool:
        return self.family in ("2.5", "3")

    @property
    def is_gemini3(self) -> bool:
        return self.family == "3"

    @property
    def model_version(self) -> str:
        return self.resolves_to or self.id

    def supports(self, method: str) -> bool:
        return method in self.methods

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": f"models/{self.id}",
            "version": self.version,
            "displayName": self.display_name,
            "description": self.description,
            "inputTokenLimit": self.input_limit,
            "outputTokenLimit": self.output_limit,
            "supportedGenerationMethods": list(self.methods),
        }
        if self.family != "embed":
            out.update({"temperature": 1, "topP": 0.95, "topK": self.top_k, "maxTemperature": 2})
        if self.thinking:
            out["thinking"] = True
        return out


def _g20(id_: str, display: str, description: str) -> ModelInfo:
    return ModelInfo(id_, "2.0", display, description, output_limit=8192, top_k=40, family="2.0",
                     default_thinking=False)


_LEVELS_ALL = ("MINIMAL", "LOW", "MEDIUM", "HIGH")

MODELS: tuple[ModelInfo, ...] = (
    ModelInfo("gemini-2.5-flash", "001", "Gemini 2.5 Flash",
              "Stable version of Gemini 2.5 Flash, our mid-size multimodal model that supports up to "
              "1 million tokens, released in June of 2025."),
    ModelInfo("gemini-2.5-pro", "2.5", "Gemini 2.5 Pro", "Stable release (June 17th, 2025) of Gemini 2.5 Pro",
              budget_min=128, budget_max=32768, can_disable=False),
    _g20("gemini-2.0-flash", "Gemini 2.0 Flash", "Gemini 2.0 Flash"),
    _g20("gemini-2.0-flash-001", "Gemini 2.0 Flash 001",
         "Stable version of Gemini 2.0 Flash, our fast and versatile multimodal model for scaling across "
         "diverse tasks, released in January of 2025."),
    _g20("gemini-2.0-flash-lite", "Gemini 2.0 Flash-Lite", "Gemini 2.0 Flash-Lite"),
    ModelInfo("gemini-flash-latest", "Gemini Flash Latest", "Gemini Flash Latest", "Latest release of Gemini Flash",
              family="3", resolves_to="gemini-3-flash-preview", levels=_LEVELS_ALL),
    # Like gemini-flash-latest (recorded answering as gemini-3.6-flash), the alias follows the newest
    # release: a Gemini 3 Flash-Lite, which takes thinking levels (Google's OpenAI-compatibility
    # table maps reasoning_effort to 3.1 Flash-Lite levels, minimal included).
    ModelInfo("gemini-flash-lite-latest", "Gemini Flash-Lite Latest", "Gemini Flash-Lite Latest",
              "Latest release of Gemini Flash-Lite", family="3", resolves_to="gemini-3.1-flash-lite-preview",
              levels=_LEVELS_ALL),
    ModelInfo("gemini-2.5-flash-lite", "001", "Gemini 2.5 Flash-Lite",
              "Stable version of Gemini 2.5 Flash-Lite, released in July of 2025", budget_min=512,
              default_thinking=False),
    ModelInfo("gemini-3-pro-preview", "3-pro-preview-11-2025", "Gemini 3 Pro Preview", "Gemini 3 Pro Preview",
              family="3", budget_min=128, budget_max=32768, can_disable=False, levels=("LOW", "HIGH")),
    ModelInfo("gemini-3-flash-preview", "3-flash-preview-12-2025", "Gemini 3 Flash Preview", "Gemini 3 Flash Preview",
              family="3", levels=_LEVELS_ALL),
    ModelInfo("gemini-3.1-pro-preview", "3.1-pro-preview-01-2026", "Gemini 3.1 Pro Preview", "Gemini 3.1 Pro Preview",
              family="3", budget_min=128, budget_max=32768, can_disable=False, levels=("LOW", "MEDIUM", "HIGH")),
    ModelInfo("gemini-embedding-001", "001", "Gemini Embedding 001", "Obtain a distributed representation of a text.",
              input_limit=2048, output_limit=1, methods=EMBED_METHODS, family="embed", embed_dim=3072),
    ModelInfo("text-embedding-004", "004", "Text Embedding 004", "Obtain a distributed representation of a text.",
              input_limit=2048, output_limit=1, methods=EMBED_METHODS, family="embed", embed_dim=768),
)


class Catalog:
    def __init__(self, models: tuple[ModelInfo, ...] = MODELS) -> None:
        self.models = models
        self.by_id = {m.id: m for m in models}
        self._json = [m.to_json() for m in models]
        self._index = {m.id: i for i, m in enumerate(models)}

    def find(self, model: str) -> ModelInfo | None:
        return self.by_id.get(model.removeprefix("models/"))

    def require(self, model: str, version: str, method: str) -> ModelInfo:
        """The model, or Google's 404 when it is unknown or does not support ``method``."""
        info = self.find(model)
        check = "embedContent" if method == "batchEmbedContents" else method
        if check == "streamGenerateContent":
            check = "generateContent"
        if info is None or not info.supports(check):
            raise errors.model_not_found(model.removeprefix("models/"), version, check)
        return info

    def get_json(self, model: str, version: str) -> dict[str, Any]:
        info = self.find(model)
        if info is None:
            raise errors.SimError(404, f"models/{model.removeprefix('models/')} is not found for API version "
                                       f"{version}, or is not supported for get. Call ListModels to see the list "
                                       "of available models and their supported methods.")
        return self._json[self._index[info.id]]

    def page(self, page_size: int | None, page_token: str | None) -> dict[str, Any]:
        size = DEFAULT_PAGE_SIZE if not page_size or page_size <= 0 else min(page_size, MAX_PAGE_SIZE)
        start = 0
        if page_token:
            last = decode_page_token(page_token)
            if last is None or last not in self._index:
                raise errors.invalid_argument("Invalid page token.")
            start = self._index[last] + 1
        chunk = self._json[start : start + size]
        out: dict[str, Any] = {"models": chunk}
        if start + size < len(self._json):
            out["nextPageToken"] = encode_page_token(self.models[start + size - 1].id)
        return out


def encode_page_token(last_model_id: str) -> str:
    """Like Google's: base64 of a protobuf with field 1 = the last returned model name."""
    name = f"models/{last_model_id}".encode()
    return base64.b64encode(b"\x0a" + bytes([len(name)]) + name).decode()


def decode_page_token(token: str) -> str | None:
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4))
    except ValueError:
        return None
    if len(raw) < 2 or raw[0] != 0x0A or raw[1] != len(raw) - 2:
        return None
    name = raw[2:].decode(errors="replace")
    return name.removeprefix("models/")

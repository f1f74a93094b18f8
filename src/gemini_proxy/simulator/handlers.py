"""Endpoint logic, independent of HTTP plumbing: bodies in, Python objects out."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from gemini_proxy.simulator import embed, errors, generate, request, response, scenario, tokens, validate
from gemini_proxy.simulator.catalog import Catalog, ModelInfo
from gemini_proxy.simulator.config import SimulatorConfig
from gemini_proxy.simulator.faults import FailSpec
from gemini_proxy.simulator.quota import quoted_limit, seconds_to_pacific_midnight


@dataclass
class Caller:
    key: str
    project: str
    version: str  # "v1beta" or "v1"


class Handlers:
    def __init__(self, config: SimulatorConfig, catalog: Catalog) -> None:
        self.config = config
        self.catalog = catalog
        self._serial = itertools.count(1)

    # --- admission: faults, key states, random errors, quota ---------------------------

    def admit(self, caller: Caller, model: str, counted: bool, stream: bool) -> FailSpec | None:
        """Raise the failure this request must get, or return a fault to apply mid-stream."""
        cfg = self.config
        spec = cfg.faults.take(caller.key, model)
        if spec is not None:
            if (spec.after_chunks is not None or spec.mid_stream_error) and stream:
                return spec
            if spec.after_chunks is not None:
                return spec
            raise self.injected(spec, model)
        now = cfg.clock()
        state = cfg.faults.key_state(caller.key, now)
        if state is not None:
            if state.state == "invalid":
                raise errors.bad_key(caller.key)
            if state.state == "exhausted_day":
                raise errors.quota_exceeded(model, quoted_limit(cfg.rpd, True), True, seconds_to_pacific_midnight(now))
            raise errors.quota_exceeded(model, quoted_limit(cfg.rpm, False), False, (state.until or now) - now)
        status = cfg.faults.roll(cfg.error_rates)
        if status is not None:
            raise self.injected(FailSpec(status=status), model)
        if counted:
            hit = cfg.quota.admit(caller.project, model, cfg.rpm, cfg.rpd)
            if hit is not None:
                raise errors.quota_exceeded(model, hit.limit, hit.per_day, hit.retry_seconds)
        return None

    def injected(self, spec: FailSpec, model: str) -> errors.SimError:
        if spec.status == 429:
            if spec.per_day:
                delay = spec.retry_delay if spec.retry_delay is not None else seconds_to_pacific_midnight(
                    self.config.clock())
                return errors.quota_exceeded(model, quoted_limit(self.config.rpd, True), True, delay)
            delay = 1.0 if spec.retry_delay is None else spec.retry_delay
            return errors.quota_exceeded(model, quoted_limit(self.config.rpm, False), False, delay)
        return errors.from_status(spec.status, spec.message)

    # --- generate ----------------------------------------------------------------------

    def prepare(self, caller: Caller, model_id: str, body: Any, method: str) -> tuple[ModelInfo, request.GenRequest]:
        model = self.catalog.require(model_id, caller.version, method)
        norm = validate.parse("GenerateContentRequest", body)
        req = request.build(norm, model, self.config.caches, caller.project, self.config.signature_secret)
        return model, req

    def plan(self, req: request.GenRequest) -> generate.Plan:
        rid = generate.response_id_for(self.config.seed, next(self._serial))
        reply = None
        if self.config.scenario is not None:
            reply = self.config.scenario.next_reply(req.contents, generate.last_user(req.contents)[0])
            if reply is not None and reply.error is not None:
                raise scenario.ScriptedError(*reply.error)
        return generate.plan(req, self.config.signature_secret, rid, reply)

    def unary(self, plan: generate.Plan) -> dict[str, Any]:
        return response.unary(plan)

    def chunks(self, plan: generate.Plan) -> list[dict[str, Any]]:
        return response.stream_chunks(plan, max(1, self.config.stream_chunks))

    # --- countTokens / embeddings --------------------------------------------------------

    def count_tokens(self, caller: Caller, model_id: str, body: Any) -> dict[str, Any]:
        self.catalog.require(model_id, caller.version, "countTokens")
        norm = validate.parse("CountTokensRequest", body)
        cached = 0
        if "generateContentRequest" in norm:
            inner = norm["generateContentRequest"]
            contents = inner.get("contents") or []
            total = tokens.prompt_tokens(contents, inner.get("systemInstruction"), inner.get("tools"))
            if inner.get("cachedContent"):
                cached = self.config.caches.get(caller.project, str(inner["cachedContent"])).token_count
        else:
            contents = norm.get("contents") or []
            total = tokens.prompt_tokens(contents)
        request.check_contents(contents)
        out: dict[str, Any] = {"totalTokens": total + cached}
        if cached:
            out["cachedContentTokenCount"] = cached
        out["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": total}]
        return out

    def embed(self, caller: Caller, model_id: str, body: Any, batch: bool) -> dict[str, Any]:
        model = self.catalog.require(model_id, caller.version, "batchEmbedContents" if batch else "embedContent")
        if batch:
            return embed.embed_batch(model, validate.parse("BatchEmbedContentsRequest", body))
        return embed.embed_one(model, validate.parse("EmbedContentRequest", body))

    # --- cachedContents ------------------------------------------------------------------

    def cache_create(self, caller: Caller, body: Any) -> dict[str, Any]:
        norm = validate.parse("CachedContent", body)
        name = norm.get("model")
        if not isinstance(name, str) or not name.startswith("models/"):
            raise errors.invalid_argument("* CachedContent.model: unexpected model name format\n", "model")
        model = self.catalog.require(name, caller.version, "createCachedContent")
        norm["model"] = f"models/{model.id}"
        contents = norm.get("contents") or []
        request.check_contents(contents)
        request.check_tools(norm.get("tools") or [])
        count = tokens.prompt_tokens(contents, norm.get("systemInstruction"), norm.get("tools"))
        if count < self.config.cache_min_tokens:
            raise errors.invalid_argument(
                f"Cached content is too small. total_token_count={count}, "
                f"min_total_token_count={self.config.cache_min_tokens}")
        return self.config.caches.create(caller.project, norm, count).to_json()

    def cache_list(self, caller: Caller, page_size: int | None, token: str | None) -> dict[str, Any]:
        size = 50 if page_size is None or page_size <= 0 else min(page_size, 1000)
        return self.config.caches.list(caller.project, size, token)

    def cache_get(self, caller: Caller, name: str) -> dict[str, Any]:
        return self.config.caches.get(caller.project, name).to_json()

    def cache_patch(self, caller: Caller, name: str, body: Any) -> dict[str, Any]:
        norm = validate.parse("CachedContent", body)
        return self.config.caches.update(caller.project, name, norm).to_json()

    def cache_delete(self, caller: Caller, name: str) -> dict[str, Any]:
        self.config.caches.delete(caller.project, name)
        return {}

"""Validating keys without spending generation quota: one models-list call per key.

A models list costs no tokens. Google's answer is classified like any other
(``quota.classify``): an invalid key is disabled in the pool, a valid key that the pool had
disabled as invalid is enabled again. Used by ``gemini-proxy keys check`` and ``POST
/api/keys/check``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from gemini_proxy.errors import UpstreamUnavailable
from gemini_proxy.upstream.client import GeminiClient
from gemini_proxy.upstream.keys import ApiKey
from gemini_proxy.upstream.pool import KeyPool
from gemini_proxy.upstream.quota import InvalidKey, RateLimited, Transient, classify


@dataclass(frozen=True, slots=True)
class KeyCheck:
    key_id: str
    status: str  # valid | invalid | rate_limited | unknown
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"key": self.key_id, "status": self.status, "detail": self.detail}


async def check_key(client: GeminiClient, key: ApiKey) -> KeyCheck:
    try:
        response = await client.send(key, "GET", "/v1beta/models", query={"pageSize": "1"})
        raw = await response.read()
    except UpstreamUnavailable as exc:
        return KeyCheck(key.short_id, "unknown", exc.message)
    if response.status == 200:
        return KeyCheck(key.short_id, "valid", "models list answered")
    try:
        body = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        body = {}
    outcome = classify(response.status, body)
    if isinstance(outcome, InvalidKey):
        return KeyCheck(key.short_id, "invalid", outcome.reason)
    if isinstance(outcome, RateLimited):
        return KeyCheck(key.short_id, "rate_limited", "valid, but rate limited now")
    if isinstance(outcome, Transient):
        return KeyCheck(key.short_id, "unknown", outcome.reason)
    return KeyCheck(key.short_id, "unknown", f"HTTP {response.status}")


async def check_keys(client: GeminiClient, keys: Sequence[ApiKey], pool: KeyPool | None = None) -> list[KeyCheck]:
    """Checks every key concurrently; with a pool, disables invalid keys and re-enables valid ones."""
    results = list(await asyncio.gather(*(check_key(client, key) for key in keys)))
    if pool is not None:
        states = {entry["key"]: entry for entry in pool.snapshot()}
        for result in results:
            state = states.get(result.key_id)
            if state is None:  # in the keys file, not yet in the pool (the watcher reloads every 2 s)
                continue
            if result.status == "invalid":
                pool.disable(result.key_id, result.detail)
            elif result.status in ("valid", "rate_limited") and state.get("state") == "disabled":
                pool.enable(result.key_id)
    return results


def format_table(results: Sequence[KeyCheck]) -> str:
    width = max([len("key"), *(len(r.key_id) for r in results)])
    lines = [f"{'key':<{width}}  {'status':<12}  detail"]
    lines += [f"{r.key_id:<{width}}  {r.status:<12}  {r.detail}" for r in results]
    return "\n".join(lines)
